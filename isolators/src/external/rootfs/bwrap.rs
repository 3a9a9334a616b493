//! bubblewrap: every namespace it can make (`--unshare-all`), a read-only bind of the probe
//! rootfs as /, fresh /proc and /dev. No cgroup. For the `io` workload, `--bind DIR /tmp` of
//! the instance's own host directory (bwrap makes every mount nosuid, and `--bind` nodev).
use std::process::Command;

use super::tool::{IoPlace, PreparedRootfs, RootfsIsolator, RootfsTool};
use crate::host::Host;
use crate::io_dir::{IoDir, INSTANCE_TMP};

/// The bwrap isolator: [`RootfsIsolator`] driven by [`Bwrap`].
pub type BwrapIsolator = RootfsIsolator<Bwrap>;

/// What bwrap adds to [`RootfsIsolator`].
pub struct Bwrap;

impl RootfsTool for Bwrap {
    const NAME: &'static str = "bwrap";
    const INSTALL_HINT: &'static str = "apt-get install bubblewrap";
    const VERSION_MARKER: &'static str = "bubblewrap";
    const BOUNDARY: &'static str = "shared kernel + namespaces (user, mount, pid, uts, ipc, net, cgroup) + read-only root; no cgroup";
    const IO_PLACE: IoPlace = IoPlace::Scratch;
    const PHASE: &'static str = "bwrap+exec";

    fn host_problem(host: &Host) -> Option<&'static str> {
        (!host.is_root && !host.user_namespaces).then_some(
            "bwrap needs user namespaces (or root): enable kernel.unprivileged_userns_clone, or run as root",
        )
    }

    fn engine_args(command: &mut Command, prepared: &PreparedRootfs, io_dir: Option<&IoDir>) {
        command
            .arg("--unshare-all")
            .arg("--ro-bind")
            .arg(&prepared.rootfs)
            .arg("/");
        if let Some(dir) = io_dir {
            command.arg("--bind").arg(dir.path()).arg(INSTANCE_TMP);
        }
        for dir in prepared.tmpfs_dirs {
            command.args(["--tmpfs", dir]);
        }
        command.args(["--proc", "/proc", "--dev", "/dev", "--die-with-parent"]);
    }
}
