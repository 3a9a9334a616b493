//! Nested-KVM test of the user's workload in `microvm-linux`: our VMM boots Debian's cloud
//! kernel with an initramfs made of a busybox-static user rootfs (the probe as /init
//! supervising the command) on a hardware-style KVM — inside an outer Linux VM under QEMU TCG
//! with emulated SVM, since this host's KVM is software (kvm_pvm) and cannot run Linux.
//!
//! Same plumbing as nested_kvm.rs; the outer VM's image also carries the host's static
//! busybox, from which the test inside builds the user's tree. Three boots: the probe's own
//! `noop` in the user's tree, `busybox httpd` with `tcp:8080`, `sha256sum` with `exit:0`.
//! A second test carries the Debian minbase tarball of scripts/make-debian-rootfs.sh into the
//! outer VM, opens it there as `--rootfs` does (unpacked into the cache) and serves
//! `python3 -m http.server` from it with `tcp:8080`.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use isolators::microvm::{MicrovmIsolator, VmGuest};
use isolators::protocol::user_command::{ReadyCheck, UserCommand};
use isolators::testing::inside_vm::{self, is_inside};
use isolators::testing::{check_on_path, outer_vm, run_if};
use isolators::user_workload::{UserRootfs, UserWorkload};
use isolators::{Host, Isolator, Workload};

const VERDICT: &str = "NESTED-USER-WORKLOAD-VERDICT";
const OUTER_TIMEOUT: Duration = Duration::from_secs(420);
const SCRATCH: &str = "/tmp/isobench-nested-user";
/// Where the outer VM's image carries the host's busybox.
const BUSYBOX_INSIDE: &str = "busybox";

#[test]
fn microvm_linux_runs_a_user_workload_in_a_nested_kvm_guest() {
    let test = "microvm_linux_runs_a_user_workload_in_a_nested_kvm_guest";
    if !run_if(test, "busybox", check_on_path("busybox")) {
        return;
    }
    let busybox = isolators::testing::which("busybox").expect("checked above");
    let extras = outer_vm::OuterExtras {
        executables: &[(BUSYBOX_INSIDE, &busybox)],
        ..Default::default()
    };
    outer_vm::run_vmm_test_inside_with(
        test,
        "inside_the_outer_vm_user_workload",
        VERDICT,
        OUTER_TIMEOUT,
        &extras,
    );
}

/// Runs as PID 1 of the outer VM (selected by the kernel command line); a no-op elsewhere.
#[test]
fn inside_the_outer_vm_user_workload() {
    if !is_inside() {
        return;
    }
    inside_vm::report_and_power_off(VERDICT, drive_user_workloads());
}

/// The user's tree: busybox and the applets the commands use, and a file to hash.
fn user_tree() -> Result<PathBuf, String> {
    let root = Path::new(SCRATCH).join("rootfs");
    let step = |what: &str, e: std::io::Error| format!("user tree, {what}: {e}");
    std::fs::create_dir_all(root.join("bin")).map_err(|e| step("mkdir", e))?;
    std::fs::create_dir_all(root.join("data")).map_err(|e| step("mkdir", e))?;
    std::fs::copy(format!("/{BUSYBOX_INSIDE}"), root.join("bin/busybox"))
        .map_err(|e| step("busybox", e))?;
    for applet in ["sh", "httpd", "sha256sum"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet))
            .map_err(|e| step(applet, e))?;
    }
    std::fs::write(root.join("data/input"), b"isobench user workload\n")
        .map_err(|e| step("data", e))?;
    Ok(root)
}

fn drive_user_workloads() -> Result<String, String> {
    inside_vm::mount_kernel_filesystems(false)?;
    inside_vm::load_kvm_modules()?;
    std::env::set_var("ISOBENCH_VMM", "/isobench-vmm");
    let root = user_tree()?;
    let command = |argv: &[&str], ready: ReadyCheck| UserCommand {
        argv: argv.iter().map(|a| a.to_string()).collect(),
        env: Vec::new(),
        workdir: "/".into(),
        ready,
        ready_timeout_ms: 60_000,
        stop_grace_ms: 1_000,
    };
    let httpd = command(
        &["httpd", "-f", "-p", "8080", "-h", "/data"],
        ReadyCheck::Tcp { port: 8080 },
    );
    let sha256sum = command(&["sha256sum", "/data/input"], ReadyCheck::Exit { code: 0 });
    let noop = boot(&root, httpd.clone(), "noop", "noop")?;
    let served = boot(&root, httpd, "exec", "httpd")?;
    let hashed = boot(&root, sha256sum, "exec", "sha256sum")?;
    let leftovers = inside_vm::processes_named(&["isobench-vmm"])?;
    if !leftovers.is_empty() {
        return Err(format!("VMM processes left: {leftovers:?}"));
    }
    Ok(format!("{noop}; {served}; {hashed}"))
}

/// Prepares `microvm-linux` with the user's tree and `command`, boots it once with `workload`
/// (noop: the probe alone in the user's tree; exec: the command) to ready, releases it and
/// waits until the VM is gone.
fn boot(root: &Path, command: UserCommand, workload: &str, label: &str) -> Result<String, String> {
    let user = UserWorkload {
        rootfs: UserRootfs::open(root).map_err(|e| e.to_string())?,
        command,
    };
    boot_user(user, workload, label)
}

/// [`boot`] for a workload already opened.
fn boot_user(user: UserWorkload, workload: &str, label: &str) -> Result<String, String> {
    let isolator = MicrovmIsolator::new(VmGuest::Linux, Some(PathBuf::from("/vmlinuz")), None)
        .with_user(Some(Arc::new(user)));
    let host = Host::detect();
    if let isolators::Availability::Unavailable { reason } = isolator.availability(&host) {
        return Err(format!(
            "microvm-linux unavailable: {reason} (KVM {})",
            host.kvm.provider
        ));
    }
    let scratch = Path::new(SCRATCH).join(label.replace(' ', "-"));
    std::fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
    let workload: Workload = workload.parse().map_err(|e| format!("{e}"))?;
    let mut launcher = isolator
        .prepare(&workload, &scratch)
        .map_err(|e| format!("{label} prepare: {e}"))?;
    let timeout = Duration::from_secs(360);
    let mut instance = launcher
        .launch()
        .map_err(|e| format!("{label} launch: {e}"))?;
    let ready = instance
        .wait_ready(timeout)
        .map_err(|e| format!("{label} ready: {e}"))?;
    let startup_ms = (ready.ready_ns - instance.launched_ns()) as f64 / 1e6;
    let mode = ready.report.get("mode").map(String::as_str);
    if mode != Some(workload.mode.name()) {
        return Err(format!("{label}: the probe said {:?}", ready.report));
    }
    let memory = instance
        .memory()
        .map_err(|e| format!("{label} memory: {e}"))?;
    instance
        .release()
        .map_err(|e| format!("{label} release: {e}"))?;
    instance
        .wait_gone(timeout)
        .map_err(|e| format!("{label} power-off: {e}"))?;
    Ok(format!(
        "{label}: launch→ready {startup_ms:.1} ms on KVM {}, report {:?}, guest RAM resident {} KiB",
        host.kvm.provider,
        ready.report,
        memory.guest_ram_resident_bytes.unwrap_or(0) / 1024
    ))
}

const DEBIAN_VERDICT: &str = "NESTED-DEBIAN-WORKLOAD-VERDICT";
/// The tarball scripts/make-debian-rootfs.sh writes beside its tree.
const DEBIAN_TAR: &str = "/var/cache/isobench/debian-rootfs.tar";

#[test]
fn microvm_linux_serves_python_from_the_debian_rootfs_in_a_nested_kvm_guest() {
    let test = "microvm_linux_serves_python_from_the_debian_rootfs_in_a_nested_kvm_guest";
    let tar = match Path::new(DEBIAN_TAR).is_file() {
        true => Ok(()),
        false => Err(format!(
            "{DEBIAN_TAR} missing — run scripts/make-debian-rootfs.sh"
        )),
    };
    if !run_if(test, "debian-rootfs", tar) {
        return;
    }
    // Outer RAM: the tarball, its unpacked tree and the inner initramfs in the outer VM's
    // tmpfs root (which holds at most half of RAM), plus the inner guest's 576 MiB.
    let extras = outer_vm::OuterExtras {
        files: &[("debian-rootfs.tar", Path::new(DEBIAN_TAR))],
        mem_mib: Some(3072),
        ..Default::default()
    };
    outer_vm::run_vmm_test_inside_with(
        test,
        "inside_the_outer_vm_debian_workload",
        DEBIAN_VERDICT,
        Duration::from_secs(900),
        &extras,
    );
}

/// Runs as PID 1 of the outer VM (selected by the kernel command line); a no-op elsewhere.
#[test]
fn inside_the_outer_vm_debian_workload() {
    if !is_inside() {
        return;
    }
    inside_vm::report_and_power_off(DEBIAN_VERDICT, drive_debian_workload());
}

fn drive_debian_workload() -> Result<String, String> {
    inside_vm::mount_kernel_filesystems(false)?;
    inside_vm::load_kvm_modules()?;
    std::env::set_var("ISOBENCH_VMM", "/isobench-vmm");
    std::env::set_var("ISOBENCH_CACHE", "/tmp/isobench-cache");
    let opened = std::time::Instant::now();
    let rootfs = UserRootfs::open(Path::new("/debian-rootfs.tar")).map_err(|e| e.to_string())?;
    let unpack_s = opened.elapsed().as_secs_f64();
    let server = UserCommand {
        argv: [
            "python3",
            "-m",
            "http.server",
            "8080",
            "--bind",
            "127.0.0.1",
        ]
        .map(String::from)
        .into(),
        env: Vec::new(),
        workdir: "/".into(),
        ready: ReadyCheck::Tcp { port: 8080 },
        ready_timeout_ms: 300_000,
        stop_grace_ms: 2_000,
    };
    let served = boot_user(
        UserWorkload {
            rootfs,
            command: server,
        },
        "exec",
        "python3 http.server",
    )?;
    Ok(format!("tarball unpacked in {unpack_s:.1} s; {served}"))
}
