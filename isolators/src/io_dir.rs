//! The instance's writable directory for the probe's `io:<KiB>` workload: one fresh host
//! directory per instance under the isolator's scratch dir, shown to the probe as `/tmp`.
//!
//! Every rootfs isobench builds is read-only, and the probe's `io` mode writes, fsyncs and
//! removes a file in `$ISOBENCH_IO_DIR` (default `/tmp`). So that "runtime vs process" compares
//! isolation cost and not tmpfs against disk, the process baseline and every container-class
//! isolator write to the same host file system: the scratch dir's. Container-class isolators
//! bind-mount the instance's directory read-write (nosuid, nodev) at `/tmp`; the baseline gets
//! `ISOBENCH_IO_DIR=<its directory>`. Other workloads get no directory and no extra mount.
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::isolator::Workload;
use crate::Error;

/// Where the instance's directory appears inside a container.
pub const INSTANCE_TMP: &str = "/tmp";

/// The probe's environment variable naming the directory its `io` workload writes to.
pub const IO_DIR_ENV: &str = "ISOBENCH_IO_DIR";

/// Makes one writable directory per instance under `<scratch>/io`.
#[derive(Debug, Clone)]
pub struct IoDirs {
    parent: PathBuf,
}

impl IoDirs {
    /// `Some` when `workload` writes files (creating `<scratch>/io`), `None` otherwise.
    pub fn for_workload(workload: &Workload, scratch: &Path) -> Result<Option<IoDirs>, Error> {
        if !workload.writes_files() {
            return Ok(None);
        }
        IoDirs::under(&scratch.join("io")).map(Some)
    }

    /// Directories go into `parent`, created if missing.
    pub fn under(parent: &Path) -> Result<IoDirs, Error> {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::io(format!("create {}", parent.display()), e))?;
        Ok(IoDirs {
            parent: parent.to_path_buf(),
        })
    }

    /// The directory every instance's directory is made in.
    pub fn parent(&self) -> &Path {
        &self.parent
    }

    /// A new, empty directory that anyone may write to (mode 1777, like /tmp): the probe may
    /// run as another uid (a user namespace, a runtime's container user).
    pub fn create(&self) -> Result<IoDir, Error> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = self.parent.join(name);
        std::fs::create_dir(&path)
            .map_err(|e| Error::io(format!("create {}", path.display()), e))?;
        let dir = IoDir { path };
        std::fs::set_permissions(&dir.path, std::fs::Permissions::from_mode(0o1777))
            .map_err(|e| Error::io(format!("chmod 1777 {}", dir.path.display()), e))?;
        Ok(dir)
    }
}

/// One instance's directory; removed by [`IoDir::remove`] at teardown, or on drop.
#[derive(Debug)]
pub struct IoDir {
    path: PathBuf,
}

impl IoDir {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the directory and anything the probe left in it.
    pub fn remove(&self) -> Result<(), Error> {
        match std::fs::remove_dir_all(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(format!("remove {}", self.path.display()), e)),
        }
    }
}

impl Drop for IoDir {
    fn drop(&mut self) {
        let _ = self.remove();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_io_gets_a_directory_and_each_instance_its_own() {
        let scratch = tempfile::tempdir().unwrap();
        let noop = IoDirs::for_workload(&Workload::noop(), scratch.path()).unwrap();
        assert!(noop.is_none());
        assert!(!scratch.path().join("io").exists());
        let io = "io:64".parse::<Workload>().unwrap();
        let dirs = IoDirs::for_workload(&io, scratch.path()).unwrap().unwrap();
        let (a, b) = (dirs.create().unwrap(), dirs.create().unwrap());
        assert_ne!(a.path(), b.path());
        let mode = std::fs::metadata(a.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o7777, 0o1777);
        std::fs::write(a.path().join("left"), b"x").unwrap();
        let path = a.path().to_path_buf();
        a.remove().unwrap();
        assert!(!path.exists());
        let path = b.path().to_path_buf();
        drop(b);
        assert!(!path.exists());
    }
}
