//! The user's workload (`--rootfs/--cmd/--ready`) in the Linux-guest VM rows: the initramfs
//! made of a busybox-static tree (read back with cpio(1)), guest RAM sized from it and a
//! too-small `--vm-mem` refused before any boot, the bare and snapshot rows refusing in one
//! line, and the emulated row (qemu-tcg, Debian's kernel) booting the tree and running the
//! command to its readiness check. `microvm-linux` runs it in the nested test
//! (nested_user_workload.rs), since this host's KVM cannot boot Linux.
mod external_support;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use isolators::external::vmms::qemu::qemu_tcg;
use isolators::microvm::user_guest::needed_guest_mem_mib;
use isolators::microvm::user_initramfs::InitramfsPlan;
use isolators::protocol::user_command::{ReadyCheck, UserCommand};
use isolators::testing::{check_on_path, run_if};
use isolators::user_workload::{UserRootfs, UserWorkload};
use isolators::{Availability, Host, Isolator, IsolatorOptions, Workload};

/// `rootfs/` under `dir`: the host's static busybox with the applets the tests run, a file
/// and a hard link to it, and what the initramfs must leave out: a top-level `init` (the
/// probe replaces it), a device node and a FIFO.
fn busybox_tree(dir: &Path) -> PathBuf {
    let busybox = isolators::testing::which("busybox").expect("busybox on PATH");
    let root = dir.join("rootfs");
    for sub in ["bin", "data", "dev"] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    std::fs::copy(&busybox, root.join("bin/busybox")).unwrap();
    for applet in ["sh", "httpd", "sha256sum", "sleep", "echo"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    std::fs::write(root.join("data/input"), b"isobench user workload\n").unwrap();
    std::fs::hard_link(root.join("data/input"), root.join("data/input-link")).unwrap();
    std::fs::write(root.join("init"), b"#!/bin/sh\necho not the probe\n").unwrap();
    let fifo = root.join("data/fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    // A device node needs root; without it the tree has one special file fewer.
    let _ = nix::sys::stat::mknod(
        &root.join("dev/null"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(1, 3),
    );
    root
}

fn command(argv: &[&str], ready: ReadyCheck) -> UserCommand {
    UserCommand {
        argv: argv.iter().map(|a| a.to_string()).collect(),
        env: vec![("GREETING".into(), "hello world".into())],
        workdir: "/".into(),
        ready,
        ready_timeout_ms: 60_000,
        stop_grace_ms: 1_000,
    }
}

fn workload(root: &Path, command: UserCommand) -> Arc<UserWorkload> {
    Arc::new(UserWorkload {
        rootfs: UserRootfs::open(root).unwrap(),
        command,
    })
}

fn options(user: &Arc<UserWorkload>, vm_mem_mib: Option<u32>) -> IsolatorOptions {
    IsolatorOptions {
        vm_mem_mib,
        user: Some(user.clone()),
        ..Default::default()
    }
}

fn sha256sum_exit_0() -> UserCommand {
    command(&["sha256sum", "/data/input"], ReadyCheck::Exit { code: 0 })
}

fn cpio(args: &[&str], archive: &Path, dir: &Path) -> String {
    let output = Command::new("cpio")
        .args(args)
        .arg("-F")
        .arg(archive)
        .current_dir(dir)
        .output()
        .expect("cpio(1) is needed for this test: apt-get install cpio");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_initramfs_holds_the_tree_with_the_probe_as_init_and_the_spec() {
    let dir = tempfile::tempdir().unwrap();
    let root = busybox_tree(dir.path());
    let user = workload(&root, sha256sum_exit_0());
    let plan = InitramfsPlan::for_workload(&user).unwrap();
    let archive = dir.path().join("user.cpio");
    plan.write(&archive).unwrap();
    assert_eq!(
        std::fs::metadata(&archive).unwrap().len(),
        plan.archive_bytes
    );
    let special = if root.join("dev/null").exists() { 2 } else { 1 };
    assert_eq!(plan.skipped_special_files, special);

    let names = cpio(&["-t", "--quiet"], &archive, dir.path());
    let names: Vec<&str> = names.lines().collect();
    let expected = [
        "proc",
        "sys",
        "tmp",
        "run", // the mount points the tree lacks, first
        "bin",
        "bin/busybox",
        "bin/echo",
        "bin/httpd",
        "bin/sh",
        "bin/sha256sum",
        "bin/sleep",
        "data",
        "data/input",
        "data/input-link",
        "dev", // no fifo, no dev/null
        "dev/console",
        "init",
        "isobench-workload",
    ];
    assert_eq!(names, expected);
    let listing = cpio(&["-t", "-v", "--quiet"], &archive, dir.path());
    let line = |name: &str| {
        listing
            .lines()
            .find(|l| l.ends_with(&format!(" {name}")) || l.contains(&format!(" {name} -> ")))
            .unwrap_or_else(|| panic!("{name} not listed: {listing}"))
            .to_string()
    };
    assert!(line("bin/sh").starts_with("lrwxrwxrwx") && line("bin/sh").ends_with("-> busybox"));
    assert!(line("dev/console").starts_with("crw-------"), "{listing}");
    assert!(line("init").starts_with("-rwxr-xr-x"), "{listing}");
    assert!(line("tmp").starts_with("drwxrwxrwt"), "{listing}");
    // Both names of the hard link say 2 links.
    for name in ["data/input", "data/input-link"] {
        assert_eq!(line(name).split_whitespace().nth(1), Some("2"), "{listing}");
    }

    let out = dir.path().join("unpacked");
    std::fs::create_dir(&out).unwrap();
    cpio(
        &["-i", "-d", "--quiet", "--no-absolute-filenames"],
        &archive,
        &out,
    );
    assert_eq!(
        std::fs::read(out.join("init")).unwrap(),
        isolators::probe::PROBE_BYTES
    );
    assert_eq!(
        std::fs::read(out.join("bin/busybox")).unwrap(),
        std::fs::read(root.join("bin/busybox")).unwrap()
    );
    assert_eq!(
        std::fs::read_link(out.join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
    let (a, b) = (out.join("data/input"), out.join("data/input-link"));
    assert_eq!(std::fs::read(&a).unwrap(), b"isobench user workload\n");
    assert_eq!(
        std::fs::metadata(&a).unwrap().ino(),
        std::fs::metadata(&b).unwrap().ino()
    );
    let spec = std::fs::read_to_string(out.join("isobench-workload")).unwrap();
    assert_eq!(UserCommand::from_spec(&spec).unwrap(), user.command);
    // The user's tree is read, never written to.
    assert_eq!(
        std::fs::read(root.join("init")).unwrap(),
        b"#!/bin/sh\necho not the probe\n"
    );
    assert!(!root.join("isobench-workload").exists() && !root.join("proc").exists());
}

#[test]
fn bare_and_snapshot_rows_say_in_one_line_why_they_cannot_run_it() {
    let dir = tempfile::tempdir().unwrap();
    let user = workload(&busybox_tree(dir.path()), sha256sum_exit_0());
    let host = Host::detect();
    let all = isolators::registry::all(&options(&user, None));
    let reason = |name: &str| {
        let isolator = all.iter().find(|i| i.name() == name).unwrap();
        match isolator.availability(&host) {
            Availability::Unavailable { reason } => reason,
            Availability::Available => panic!("{name} claims it can run a user workload"),
        }
    };
    for bare in [
        "microvm",
        "microvm-restore",
        "qemu-microvm",
        "firecracker",
        "firecracker-restore",
        "cloud-hypervisor",
    ] {
        let reason = reason(bare);
        assert!(
            reason.starts_with("the bare guest has no OS to run a command in; use microvm-linux"),
            "{bare}: {reason}"
        );
    }
    let reason = reason("microvm-linux-restore");
    assert!(
        reason.starts_with("microvm-linux-restore resumes a snapshot") && !reason.contains('\n'),
        "{reason}"
    );
    // The host's own root cannot be a guest's initramfs.
    let host_root = workload(Path::new("/"), sha256sum_exit_0());
    for isolator in isolators::registry::all(&options(&host_root, None)) {
        if isolator.guest() == isolators::GuestKind::Linux && !isolator.warm_start() {
            match isolator.availability(&host) {
                Availability::Unavailable { reason } => {
                    assert!(
                        reason.contains("host's own root"),
                        "{}: {reason}",
                        isolator.name()
                    )
                }
                Availability::Available => panic!("{} would boot /", isolator.name()),
            }
        }
    }
}

fn check_guest_kernel() -> Result<(), String> {
    isolators::microvm::guest::find_kernel(None)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn qemu_tcg_gate(test: &str) -> bool {
    run_if(test, "qemu", check_on_path("qemu-system-x86_64"))
        && run_if(test, "guest-kernel", check_guest_kernel())
}

#[test]
fn guest_ram_comes_from_the_archive_and_too_little_is_refused_before_any_boot() {
    let test = "guest_ram_comes_from_the_archive_and_too_little_is_refused_before_any_boot";
    if !qemu_tcg_gate(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let user = workload(&busybox_tree(dir.path()), sha256sum_exit_0());
    let needed = needed_guest_mem_mib(InitramfsPlan::for_workload(&user).unwrap().archive_bytes);
    let isolator = qemu_tcg(&options(&user, None));
    let notes = isolator.describe().notes.join("\n");
    assert!(
        notes.contains("the initramfs holds the user's rootfs")
            && notes.contains(&format!("guest RAM {needed} MiB (2 × archive + 128 MiB")),
        "{notes}"
    );
    let scratch = tempfile::tempdir().unwrap();
    let error = qemu_tcg(&options(&user, Some(64)))
        .prepare(&"exec".parse::<Workload>().unwrap(), scratch.path())
        .expect_err("64 MiB is too little for any user rootfs")
        .to_string();
    assert!(
        error.contains(&format!(
            "needs about {needed} MiB of guest RAM; pass --vm-mem {needed} or a smaller rootfs"
        )) && !error.contains('\n'),
        "{error}"
    );
    let written: Vec<_> = std::fs::read_dir(scratch.path())
        .unwrap()
        .flatten()
        .collect();
    assert!(written.is_empty(), "refused, yet wrote {written:?}");
}

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
}
