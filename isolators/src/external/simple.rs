//! The instance of an engine whose command runs the probe below itself until it exits
//! (unshare, bwrap): readiness, resources and teardown all come from [`Spawned`], plus the
//! `io` workload's instance directory ([`crate::io_dir`]), removed at teardown.
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::spawned::Spawned;
use crate::disk::DiskFootprint;
use crate::io_dir::{IoDir, IoDirs};
use crate::isolator::{Instance, Ready, Resources};
use crate::probe::{write_rootfs, Workload};
use crate::Error;

/// Where a rootfs-based engine's `io` instances get their directories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoPlace {
    /// `<scratch>/io/<instance>`, which the engine binds at /tmp.
    Scratch,
    /// `<rootfs>/tmp/<instance>`, seen as `/tmp/<instance>` inside a chroot into the rootfs.
    RootfsTmp,
}

/// What `prepare` leaves for launches of a rootfs-based engine.
pub struct PreparedRootfs {
    pub engine: PathBuf,
    pub rootfs: PathBuf,
    pub scratch: PathBuf,
    pub workload: Workload,
    /// Where `io` instances get their directories; `None` for other workloads.
    pub io_dirs: Option<IoDirs>,
}

impl PreparedRootfs {
    /// Writes the probe rootfs and measures engine + rootfs.
    pub fn make(
        engine: PathBuf,
        workload: &Workload,
        scratch: &Path,
        io_place: IoPlace,
    ) -> Result<(PreparedRootfs, DiskFootprint), Error> {
        let rootfs = write_rootfs(scratch)?;
        let footprint =
            DiskFootprint::measure(std::slice::from_ref(&engine), std::slice::from_ref(&rootfs))?;
        let io_dirs = match io_place {
            _ if !workload.writes_files() => None,
            IoPlace::Scratch => Some(IoDirs::under(&scratch.join("io"))?),
            IoPlace::RootfsTmp => Some(IoDirs::under(&rootfs.join("tmp"))?),
        };
        Ok((
            PreparedRootfs {
                engine,
                rootfs,
                scratch: scratch.to_path_buf(),
                workload: workload.clone(),
                io_dirs,
            },
            footprint,
        ))
    }
}

/// An instance that is exactly one engine process and what runs below it.
pub struct SimpleInstance {
    spawned: Spawned,
    /// Name of the single launch → ready phase, e.g. "unshare+exec".
    phase: &'static str,
    /// The `io` workload's directory; dropped after `spawned`, so after the probe is dead.
    io_dir: Option<IoDir>,
}

impl SimpleInstance {
    pub fn new(spawned: Spawned, phase: &'static str, io_dir: Option<IoDir>) -> SimpleInstance {
        SimpleInstance {
            spawned,
            phase,
            io_dir,
        }
    }
}

impl Instance for SimpleInstance {
    fn launched_ns(&self) -> u64 {
        self.spawned.launched_ns
    }
    fn wait_ready(&mut self, timeout: Duration) -> Result<Ready, Error> {
        let mut ready = self.spawned.wait_ready(timeout)?;
        ready.phases.push((
            self.phase.to_string(),
            ready.ready_ns - self.spawned.launched_ns,
        ));
        Ok(ready)
    }
    fn resources(&self) -> Resources {
        Resources {
            pids: self.spawned.processes(),
            paths: self.io_dir.iter().map(|d| d.path().to_path_buf()).collect(),
            ..Default::default()
        }
    }
    fn release(&mut self) -> Result<(), Error> {
        self.spawned.release();
        Ok(())
    }
    fn wait_gone(&mut self, timeout: Duration) -> Result<(), Error> {
        self.spawned.wait_gone_ok(timeout)?;
        self.io_dir.as_ref().map_or(Ok(()), IoDir::remove)
    }
}
