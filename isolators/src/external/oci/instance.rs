//! One container run by an OCI runtime in the foreground: its ready channel, its cgroup in
//! every hierarchy, its state entries, and `delete --force` plus cgroup removal on drop.
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::runtime::Runtime;
use crate::cgroup::CgroupMemorySource;
use crate::external::spawned::Spawned;
use crate::io_dir::IoDir;
use crate::isolator::{Instance, Ready};
use crate::resources::Resources;
use crate::Error;

/// One container run by an OCI runtime in the foreground.
pub struct OciInstance {
    pub(super) spawned: Option<Spawned>,
    pub id: String,
    pub(super) bundle: PathBuf,
    pub(super) cgroup_dirs: Option<CgroupMemorySource>,
    /// The instance's directory in every hierarchy, existing or not, for leak checks.
    pub(super) every_cgroup_dir: Vec<PathBuf>,
    pub(super) runtime: Runtime,
    /// The `io` workload's host directory (bound at /tmp), removed at teardown and on drop.
    pub(super) io_dir: Option<IoDir>,
}

impl OciInstance {
    fn spawned(&mut self) -> &mut Spawned {
        self.spawned.as_mut().expect("set at launch")
    }

    /// The runtime's state entries for this container: a directory named after it (runc,
    /// crun) or files named `<id>_sandbox:<id>.state` and `.lock` (runsc).
    pub fn state_entries(&self) -> Vec<PathBuf> {
        let prefix = format!("{}_", self.id);
        std::fs::read_dir(&self.runtime.state_root)
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| {
                        let name = e.file_name().to_string_lossy().to_string();
                        name == self.id || name.starts_with(&prefix)
                    })
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Instance for OciInstance {
    fn launched_ns(&self) -> u64 {
        self.spawned.as_ref().map_or(0, |s| s.launched_ns)
    }
    fn wait_ready(&mut self, timeout: Duration) -> Result<Ready, Error> {
        self.spawned()
            .wait_ready_phase(timeout, "run (create+start)")
    }
    fn resources(&self) -> Resources {
        let mut pids = self.spawned.as_ref().map_or(Vec::new(), |s| s.processes());
        let cgroup = self.cgroup_dirs.clone().filter(|c| c.dir().is_dir());
        // Anything the runtime left outside its process tree but inside the container's
        // cgroup (a re-parented sandbox) is the instance's too.
        if let Some(cgroup) = &cgroup {
            pids.extend(cgroup.pids());
            pids.sort_unstable();
            pids.dedup();
        }
        let mut paths = self.state_entries();
        paths.push(self.bundle.clone());
        paths.extend(self.io_dir.iter().map(|d| d.path().to_path_buf()));
        paths.extend(self.every_cgroup_dir.iter().filter(|d| d.is_dir()).cloned());
        Resources {
            pids,
            cgroup,
            launcher_cgroup: self.spawned.as_ref().and_then(Spawned::measuring_cgroup),
            paths,
            ..Default::default()
        }
    }
    fn cpu_ns(&self) -> Option<u64> {
        self.spawned.as_ref().and_then(Spawned::cpu_ns)
    }
    fn release(&mut self) -> Result<(), Error> {
        self.spawned().release();
        Ok(())
    }
    fn wait_gone(&mut self, timeout: Duration) -> Result<(), Error> {
        let started = Instant::now();
        self.spawned().wait_gone_ok(timeout)?;
        // Foreground `run` deletes the container when the probe exits; check it did.
        if !self.state_entries().is_empty() {
            let why = self
                .runtime
                .force_delete(&self.id)
                .err()
                .unwrap_or_default();
            return Err(Error::Engine(format!(
                "container {} was still in {} after `run` returned (deleted it now{})",
                self.id,
                self.runtime.state_root.display(),
                if why.is_empty() {
                    String::new()
                } else {
                    format!("; delete said: {why}")
                }
            )));
        }
        let _ = std::fs::remove_dir_all(&self.bundle);
        if let Some(dir) = &self.io_dir {
            dir.remove()?;
        }
        // The runtime removes its cgroups when the container is destroyed; wait for that.
        while let Some(dir) = self.every_cgroup_dir.iter().find(|d| d.exists()) {
            if started.elapsed() >= timeout {
                return Err(Error::timeout(
                    format!("{} to be removed", dir.display()),
                    timeout,
                ));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }
}

impl Drop for OciInstance {
    fn drop(&mut self) {
        if let Some(mut spawned) = self.spawned.take() {
            spawned.kill();
        }
        if !self.state_entries().is_empty() {
            let _ = self.runtime.force_delete(&self.id);
            // A runtime killed mid-create may leave entries `delete` does not take (lock files).
            for entry in self.state_entries() {
                let _ = std::fs::remove_dir_all(&entry).or_else(|_| std::fs::remove_file(&entry));
            }
        }
        let _ = std::fs::remove_dir_all(&self.bundle);
        // A runtime killed half-way through create leaves cgroups that `delete` does not know.
        for dir in self.every_cgroup_dir.iter().filter(|d| d.exists()) {
            remove_cgroup(dir);
        }
    }
}

/// Removes an empty cgroup directory, retrying while its killed tasks finish leaving.
fn remove_cgroup(dir: &Path) {
    for _ in 0..100 {
        match std::fs::remove_dir(dir) {
            Ok(()) => return,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}
