//! Shared by the user-workload VM tests: a busybox-static user rootfs built in the test, the
//! commands they run, the options that carry them, and the gate of the emulated row.
#![allow(dead_code)]
use std::path::{Path, PathBuf};
use std::sync::Arc;

use isolators::protocol::user_command::{ReadyCheck, UserCommand};
use isolators::testing::{check_on_path, run_if};
use isolators::user_workload::{UserRootfs, UserWorkload};
use isolators::IsolatorOptions;

/// `rootfs/` under `dir`: the host's static busybox with the applets the tests run, a file
/// and a hard link to it, and what the initramfs must leave out: a top-level `init` (the
/// probe replaces it), a device node and a FIFO.
pub fn busybox_tree(dir: &Path) -> PathBuf {
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

pub fn command(argv: &[&str], ready: ReadyCheck) -> UserCommand {
    UserCommand {
        argv: argv.iter().map(|a| a.to_string()).collect(),
        env: vec![("GREETING".into(), "hello world".into())],
        workdir: "/".into(),
        ready,
        ready_timeout_ms: 60_000,
        stop_grace_ms: 1_000,
    }
}

pub fn workload(root: &Path, command: UserCommand) -> Arc<UserWorkload> {
    Arc::new(UserWorkload {
        rootfs: UserRootfs::open(root).unwrap(),
        command,
    })
}

pub fn options(user: &Arc<UserWorkload>, vm_mem_mib: Option<u32>) -> IsolatorOptions {
    IsolatorOptions {
        vm_mem_mib,
        user: Some(user.clone()),
        ..Default::default()
    }
}

pub fn sha256sum_exit_0() -> UserCommand {
    command(&["sha256sum", "/data/input"], ReadyCheck::Exit { code: 0 })
}

pub fn check_guest_kernel() -> Result<(), String> {
    isolators::microvm::guest::find_kernel(None)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

pub fn qemu_tcg_gate(test: &str) -> bool {
    run_if(test, "qemu", check_on_path("qemu-system-x86_64"))
        && run_if(test, "guest-kernel", check_guest_kernel())
}
