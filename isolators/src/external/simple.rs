//! The instance of an engine whose command runs the probe below itself until it exits
//! (unshare, bwrap): readiness, resources and teardown all come from [`Spawned`].
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::spawned::Spawned;
use crate::disk::DiskFootprint;
use crate::isolator::{Instance, Ready, Resources};
use crate::probe::{write_rootfs, Workload};
use crate::Error;

/// What `prepare` leaves for launches of a rootfs-based engine.
pub struct PreparedRootfs {
    pub engine: PathBuf,
    pub rootfs: PathBuf,
    pub scratch: PathBuf,
    pub workload: Workload,
}

impl PreparedRootfs {
    /// Writes the probe rootfs and measures engine + rootfs.
    pub fn make(
        engine: PathBuf,
        workload: &Workload,
        scratch: &Path,
    ) -> Result<(PreparedRootfs, DiskFootprint), Error> {
        let rootfs = write_rootfs(scratch)?;
        let footprint =
            DiskFootprint::measure(std::slice::from_ref(&engine), std::slice::from_ref(&rootfs))?;
        Ok((
            PreparedRootfs {
                engine,
                rootfs,
                scratch: scratch.to_path_buf(),
                workload: workload.clone(),
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
}

impl SimpleInstance {
    pub fn new(spawned: Spawned, phase: &'static str) -> SimpleInstance {
        SimpleInstance { spawned, phase }
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
            ..Default::default()
        }
    }
    fn release(&mut self) -> Result<(), Error> {
        self.spawned.release();
        Ok(())
    }
    fn wait_gone(&mut self, timeout: Duration) -> Result<(), Error> {
        self.spawned.wait_gone_ok(timeout)
    }
}
