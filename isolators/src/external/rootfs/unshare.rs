//! util-linux `unshare`: new mount, pid, uts, ipc and net namespaces, a chroot into the probe
//! rootfs and a fresh /proc there. No cgroup, no seccomp, no capability drop: the cheapest real container tool.
//!
//! `--root` is a plain chroot into the rootfs directory, which stays writable (no read-only
//! bind), and unshare has no option to bind-mount anything, so the `io` workload cannot get a
//! bind at /tmp without a shell or a helper in the rootfs. Instead each instance gets its own
//! directory inside the rootfs's /tmp (the same host file system as every other isolator's
//! instance directory) and the probe is told `ISOBENCH_IO_DIR=/tmp/<that directory>`.
//!
//! A user workload's rootfs is a hard-link copy of the user's tree: a writable chroot would let
//! the command rewrite the user's own files. So before unshare runs, its process enters a mount
//! namespace of its own where the rootfs is bound read-only with a tmpfs at /tmp and /run
//! (`unshare --mount` then copies that namespace; both vanish with the instance).
use std::ffi::{CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
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
        if prepared.tmpfs_dirs.is_empty() {
            return;
        }
        let c_path = |path: &Path| CString::new(path.as_os_str().as_bytes()).ok();
        let rootfs = c_path(&prepared.rootfs);
        let tmpfs: Option<Vec<CString>> = prepared
            .tmpfs_dirs
            .iter()
            .map(|dir| c_path(&prepared.rootfs.join(dir.trim_start_matches('/'))))
            .collect();
        let (Some(rootfs), Some(tmpfs)) = (rootfs, tmpfs) else {
            // A path with a NUL byte cannot be a rootfs; unshare --root will refuse it itself.
            return;
        };
        // SAFETY: the hook runs between fork and exec and only makes raw system calls on
        // strings built before the fork.
        unsafe {
            command.pre_exec(move || read_only_root_with_tmpfs(&rootfs, &tmpfs));
        }
    }
}

/// In a mount namespace of this process's own: `rootfs` bound read-only onto itself, and an
/// empty tmpfs on each of `tmpfs_dirs` (paths inside it).
fn read_only_root_with_tmpfs(rootfs: &CStr, tmpfs_dirs: &[CString]) -> std::io::Result<()> {
    let check = |ret: libc::c_int| match ret {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    };
    let null = std::ptr::null::<libc::c_char>();
    // SAFETY: raw unshare/mount with valid NUL-terminated strings or NULL where allowed.
    unsafe {
        check(libc::unshare(libc::CLONE_NEWNS))?;
        let private = libc::MS_REC | libc::MS_PRIVATE;
        check(libc::mount(null, c"/".as_ptr(), null, private, null.cast()))?;
        let bind = libc::MS_BIND | libc::MS_REC;
        check(libc::mount(
            rootfs.as_ptr(),
            rootfs.as_ptr(),
            null,
            bind,
            null.cast(),
        ))?;
        let read_only = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY;
        check(libc::mount(
            null,
            rootfs.as_ptr(),
            null,
            read_only,
            null.cast(),
        ))?;
        for dir in tmpfs_dirs {
            let flags = libc::MS_NOSUID | libc::MS_NODEV;
            let data = c"mode=1777";
            check(libc::mount(
                c"tmpfs".as_ptr(),
                dir.as_ptr(),
                c"tmpfs".as_ptr(),
                flags,
                data.as_ptr().cast(),
            ))?;
        }
    }
    Ok(())
}
