//! util-linux `unshare`: new mount, pid, uts, ipc and net namespaces, a chroot into the probe
//! rootfs and a fresh /proc there. No cgroup, no seccomp, no capability drop: the cheapest real container tool.
//!
//! `--root` is a plain chroot into the rootfs directory, which stays writable (no read-only
//! bind), and unshare has no option to bind-mount anything, so the `io` workload cannot get a
//! bind at /tmp without a shell or a helper in the rootfs. Instead each instance gets its own
//! directory inside the rootfs's /tmp (the same host file system as every other isolator's
//! instance directory) and the probe is told `ISOBENCH_IO_DIR=/tmp/<that directory>`.
use std::path::Path;
use std::process::Command;

use super::tool::{IoPlace, PreparedRootfs, RootfsIsolator, RootfsTool};
use crate::host::Host;
use crate::io_dir::{IoDir, INSTANCE_TMP, IO_DIR_ENV};

/// The unshare isolator: [`RootfsIsolator`] driven by [`Unshare`].
pub type UnshareIsolator = RootfsIsolator<Unshare>;

/// What unshare adds to [`RootfsIsolator`].
pub struct Unshare;

impl RootfsTool for Unshare {
    const NAME: &'static str = "unshare";
    const INSTALL_HINT: &'static str = "apt-get install util-linux";
    const VERSION_MARKER: &'static str = "util-linux";
    const BOUNDARY: &'static str =
        "shared kernel + 5 namespaces (mount, pid, uts, ipc, net) + chroot + own /proc; no cgroup";
    const IO_PLACE: IoPlace = IoPlace::RootfsTmp;
    const PHASE: &'static str = "unshare+exec";

    fn host_problem(host: &Host) -> Option<&'static str> {
        (!host.is_root).then_some(
            "unshare of mount/pid/net namespaces with --root needs root — run isobench as root",
        )
    }

    fn engine_args(command: &mut Command, prepared: &PreparedRootfs, io_dir: Option<&IoDir>) {
        command
            .args([
                "--fork",
                "--kill-child",
                "--pid",
                "--mount",
                "--uts",
                "--ipc",
                "--net",
            ])
            .arg(format!("--root={}", prepared.rootfs.display()))
            // After the chroot: the rootfs's empty /proc becomes the new pid namespace's.
            .arg("--mount-proc");
        if let Some(name) = io_dir.and_then(|d| d.path().file_name()) {
            command.env(IO_DIR_ENV, Path::new(INSTANCE_TMP).join(name));
        }
    }
}
