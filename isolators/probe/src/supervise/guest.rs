//! What a Linux userland expects to find mounted, for a command run as a VM guest's /init
//! child: proc, sysfs, devtmpfs, and tmpfs on /tmp and /run. Only in `exec` mode on the `vm`
//! channel, so the probe-only guests boot exactly as before.
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::sys;

/// The file systems mounted, in order: (type, mount point).
const GUEST_MOUNTS: [(&str, &str); 5] = [
    ("proc", "/proc"),
    ("sysfs", "/sys"),
    ("devtmpfs", "/dev"),
    ("tmpfs", "/tmp"),
    ("tmpfs", "/run"),
];

/// Mounts each of [`GUEST_MOUNTS`] that is not mounted yet, creating its directory if the
/// rootfs lacks it. A mount that fails is reported on stderr and left as it is (a kernel
/// without devtmpfs keeps the initramfs's own /dev), never an error: the command may not need it.
pub fn mount_userland() {
    for (fstype, target) in GUEST_MOUNTS {
        if is_mount_point(target) {
            continue;
        }
        let made = std::fs::create_dir_all(target);
        if let Err(error) = made.and_then(|()| sys::mount_fs(fstype, target)) {
            eprintln!("isobench-probe: cannot mount {fstype} on {target} ({error}); left as it is");
        }
    }
}

/// True when `path` is a mount point: it lies on another device than its parent.
fn is_mount_point(path: &str) -> bool {
    let path = Path::new(path);
    let Some(parent) = path.parent() else {
        return true;
    };
    match (std::fs::metadata(path), std::fs::metadata(parent)) {
        (Ok(own), Ok(parents)) => own.dev() != parents.dev(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_a_mount_point_from_a_directory() {
        assert!(
            is_mount_point("/proc"),
            "/proc is mounted on every Linux host"
        );
        assert!(!is_mount_point("/proc/self/fd"), "a directory inside proc");
        assert!(!is_mount_point("/nonexistent-isobench"));
    }
}
