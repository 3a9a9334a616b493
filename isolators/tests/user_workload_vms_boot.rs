//! The user's workload booted in the emulated Linux-guest row (qemu-tcg, Debian's kernel, on
//! any host QEMU runs on): a busybox-static tree with the probe alone (noop), `sha256sum` with
//! `exit:0` and `busybox httpd` with `tcp:8080`; a command that dies before ready, reported at
//! once with the probe's message, and a check that never passes, after its timeout; a command
//! ignoring SIGTERM, killed after the stop grace; and, when scripts/make-debian-rootfs.sh has
//! built it, a Debian minbase tree serving `python3 -m http.server` with `tcp:8080`.
mod external_support;
mod user_vm_support;

use std::path::Path;
use std::time::Duration;

use isolators::external::vmms::qemu::qemu_tcg;
use isolators::protocol::user_command::{ReadyCheck, UserCommand};
use isolators::testing::run_if;
use isolators::{Host, Isolator, Workload};
use user_vm_support::{busybox_tree, command, options, qemu_tcg_gate, sha256sum_exit_0, workload};

/// Prepares `isolator` for `workload`, boots one instance to ready, releases it and waits until
/// it is gone; returns the probe's ready report and the startup in ms.
fn boot_once(
    isolator: &dyn Isolator,
    workload: &Workload,
    scratch: &Path,
) -> (std::collections::BTreeMap<String, String>, f64) {
    let mut launcher = isolator.prepare(workload, scratch).unwrap();
    let disk = launcher.disk().clone();
    assert!(
        disk.image_files
            .iter()
            .any(|f| f.ends_with("user-initramfs.cpio")),
        "{disk:?}"
    );
    let mut instance = launcher.launch().unwrap();
    let ready = instance.wait_ready(Duration::from_secs(180)).unwrap();
    let startup_ms = (ready.ready_ns - instance.launched_ns()) as f64 / 1e6;
    instance.release().unwrap();
    instance.wait_gone(Duration::from_secs(60)).unwrap();
    drop(instance);
    drop(launcher);
    external_support::assert_nothing_runs_from(scratch);
    (ready.report, startup_ms)
}

/// The emulated row boots the busybox tree with the probe as /init: first with the probe's own
/// `noop` (the initramfs and boot path alone), then supervising the user's command.
#[test]
fn qemu_tcg_boots_a_busybox_rootfs_and_runs_the_command() {
    let test = "qemu_tcg_boots_a_busybox_rootfs_and_runs_the_command";
    if !qemu_tcg_gate(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = busybox_tree(dir.path());
    let user = workload(&root, sha256sum_exit_0());
    let isolator = qemu_tcg(&options(&user, None));
    assert!(isolator.availability(&Host::detect()).is_available());
    let scratch = tempfile::tempdir().unwrap();
    let (report, startup_ms) = boot_once(&isolator, &Workload::noop(), scratch.path());
    eprintln!("qemu-tcg, busybox rootfs, noop: {startup_ms:.0} ms, {report:?}");
    assert_eq!(
        report.get("mode").map(String::as_str),
        Some("noop"),
        "{report:?}"
    );

    let exec: Workload = "exec".parse().unwrap();
    let (report, startup_ms) = boot_once(&isolator, &exec, scratch.path());
    eprintln!("qemu-tcg, busybox rootfs, sha256sum exit:0: {startup_ms:.0} ms, {report:?}");
    let said = |key: &str| report.get(key).map(String::as_str);
    assert_eq!(
        (said("mode"), said("exit_code")),
        (Some("exec"), Some("0")),
        "{report:?}"
    );

    let httpd = command(
        &["httpd", "-f", "-p", "8080", "-h", "/data"],
        ReadyCheck::Tcp { port: 8080 },
    );
    let isolator = qemu_tcg(&options(&workload(&root, httpd), None));
    let scratch = tempfile::tempdir().unwrap();
    let (report, startup_ms) = boot_once(&isolator, &exec, scratch.path());
    eprintln!("qemu-tcg, busybox rootfs, httpd tcp:8080: {startup_ms:.0} ms, {report:?}");
    assert_eq!(
        report.get("mode").map(String::as_str),
        Some("exec"),
        "{report:?}"
    );
    assert!(report.contains_key("pid"), "{report:?}");
}

/// Launches `user` in qemu-tcg and returns why it never became ready, after checking that the
/// VM ended well before the harness's timeout and left nothing behind.
fn never_ready(user: UserCommand, label: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let root = busybox_tree(dir.path());
    let isolator = qemu_tcg(&options(&workload(&root, user), None));
    let scratch = tempfile::tempdir().unwrap();
    let exec: Workload = "exec".parse().unwrap();
    let mut launcher = isolator.prepare(&exec, scratch.path()).unwrap();
    let mut instance = launcher.launch().unwrap();
    let started = std::time::Instant::now();
    let error = instance
        .wait_ready(Duration::from_secs(180))
        .expect_err("never ready")
        .to_string();
    eprintln!("qemu-tcg, {label}, after {:?}: {error}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(120), "{error}");
    drop(instance);
    drop(launcher);
    external_support::assert_nothing_runs_from(scratch.path());
    error
}

/// A command that exits before its readiness check passes ends the guest: the launch fails
/// at once (not at the timeout) with the probe's message, and the VM is gone.
#[test]
fn qemu_tcg_says_why_when_the_command_dies_before_ready() {
    let test = "qemu_tcg_says_why_when_the_command_dies_before_ready";
    if !qemu_tcg_gate(test) {
        return;
    }
    let dying = command(
        &["sh", "-c", "echo about to fail; exit 3"],
        ReadyCheck::Tcp { port: 8080 },
    );
    let error = never_ready(dying, "command exits 3 before ready");
    assert!(
        error.contains("before its readiness check tcp:8080 passed")
            && error.contains("about to fail"),
        "{error}"
    );
}

/// A readiness check that never passes: the probe gives up after the command's ready timeout
/// (3 s here), stops the command and ends the guest, which says so with the last output.
#[test]
fn qemu_tcg_says_why_when_the_check_never_passes() {
    let test = "qemu_tcg_says_why_when_the_check_never_passes";
    if !qemu_tcg_gate(test) {
        return;
    }
    let mut silent = command(
        &["sh", "-c", "echo listening nowhere; sleep 1000"],
        ReadyCheck::Tcp { port: 8080 },
    );
    silent.ready_timeout_ms = 3_000;
    let error = never_ready(silent, "check never passes");
    assert!(
        error.contains("did not pass its readiness check tcp:8080 within 3.0 s")
            && error.contains("listening nowhere"),
        "{error}"
    );
}

/// The Debian minbase rootfs of scripts/make-debian-rootfs.sh (/var/cache/isobench).
const DEBIAN_ROOTFS: &str = "/var/cache/isobench/debian-rootfs";

fn check_debian_rootfs() -> Result<(), String> {
    match Path::new(DEBIAN_ROOTFS).join("usr/bin/python3").exists() {
        true => Ok(()),
        false => Err(format!(
            "{DEBIAN_ROOTFS} has no usr/bin/python3 — run scripts/make-debian-rootfs.sh"
        )),
    }
}

/// The emulated row with a real distribution's tree: Debian minbase with python3, about
/// 200 MiB packed, `python3 -m http.server` ready on `tcp:8080`, then `sha256sum` with `exit:0`.
#[test]
fn qemu_tcg_runs_a_python_http_server_from_the_debian_rootfs() {
    let test = "qemu_tcg_runs_a_python_http_server_from_the_debian_rootfs";
    if !qemu_tcg_gate(test) || !run_if(test, "debian-rootfs", check_debian_rootfs()) {
        return;
    }
    let server = command(
        &[
            "python3",
            "-m",
            "http.server",
            "8080",
            "--bind",
            "127.0.0.1",
        ],
        ReadyCheck::Tcp { port: 8080 },
    );
    let user = workload(Path::new(DEBIAN_ROOTFS), server);
    let isolator = qemu_tcg(&options(&user, None));
    let scratch = tempfile::tempdir().unwrap();
    let exec: Workload = "exec".parse().unwrap();
    let (report, startup_ms) = boot_once(&isolator, &exec, scratch.path());
    eprintln!("qemu-tcg, Debian rootfs, python3 http.server: {startup_ms:.0} ms, {report:?}");
    assert_eq!(
        report.get("mode").map(String::as_str),
        Some("exec"),
        "{report:?}"
    );

    // A batch job: startup is the boot plus the whole run of Debian's own sha256sum.
    let batch = command(
        &["sha256sum", "/usr/bin/python3"],
        ReadyCheck::Exit { code: 0 },
    );
    let isolator = qemu_tcg(&options(&workload(Path::new(DEBIAN_ROOTFS), batch), None));
    let scratch = tempfile::tempdir().unwrap();
    let (report, startup_ms) = boot_once(&isolator, &exec, scratch.path());
    eprintln!("qemu-tcg, Debian rootfs, sha256sum exit:0: {startup_ms:.0} ms, {report:?}");
    assert_eq!(
        report.get("exit_code").map(String::as_str),
        Some("0"),
        "{report:?}"
    );
}

/// A command that ignores SIGTERM: at release the probe (the guest's init) sends SIGTERM, waits
/// the stop grace (1 s here), then SIGKILLs it and powers the guest off; the VM ends normally
/// and leaves nothing.
#[test]
fn qemu_tcg_stops_a_command_that_ignores_sigterm() {
    let test = "qemu_tcg_stops_a_command_that_ignores_sigterm";
    if !qemu_tcg_gate(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = busybox_tree(dir.path());
    let stubborn = command(
        &["sh", "-c", "trap '' TERM; touch /tmp/up; sleep 1000"],
        ReadyCheck::File {
            path: "/tmp/up".into(),
        },
    );
    let isolator = qemu_tcg(&options(&workload(&root, stubborn), None));
    let scratch = tempfile::tempdir().unwrap();
    let exec: Workload = "exec".parse().unwrap();
    let mut launcher = isolator.prepare(&exec, scratch.path()).unwrap();
    let mut instance = launcher.launch().unwrap();
    let ready = instance.wait_ready(Duration::from_secs(180)).unwrap();
    assert_eq!(ready.report.get("mode").map(String::as_str), Some("exec"));
    let released = std::time::Instant::now();
    instance.release().unwrap();
    instance.wait_gone(Duration::from_secs(60)).unwrap();
    let teardown = released.elapsed();
    eprintln!("qemu-tcg, command ignoring SIGTERM: teardown {teardown:?}");
    assert!(
        teardown >= Duration::from_secs(1),
        "SIGKILL came before the grace: {teardown:?}"
    );
    drop(instance);
    drop(launcher);
    external_support::assert_nothing_runs_from(scratch.path());
}
