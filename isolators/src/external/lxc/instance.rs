//! One LXC container run by `lxc-start -F`: the lxc-start process is LXC's monitor and the
//! probe is the container's init below it. Owns the container's directory in the private
//! lxcpath, LXC's lock file for it, its cgroups in every hierarchy and the `io` directory;
//! teardown and Drop leave none of them.
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::cgroup::CgroupMemorySource;
use crate::external::procs;
use crate::external::spawned::Spawned;
use crate::io_dir::IoDir;
use crate::isolator::{Instance, Ready};
use crate::resources::Resources;
use crate::Error;

/// The single launch → ready phase.
pub const PHASE: &str = "lxc-start (monitor, clone, rootfs, exec)";

/// One container started by `lxc-start -F` in a private lxcpath.
pub struct LxcInstance {
    pub(super) spawned: Option<Spawned>,
    pub name: String,
    /// `<lxcpath>/<name>`, holding the config.
    pub(super) container_dir: PathBuf,
    /// LXC's lock file for the container, which LXC leaves behind.
    pub(super) lock_file: PathBuf,
    /// The instance's cgroup (parent of LXC's payload, monitor and pivot cgroups).
    pub(super) memory: Option<CgroupMemorySource>,
    /// The instance's cgroup directory in every hierarchy, existing or not.
    pub(super) every_cgroup_dir: Vec<PathBuf>,
    /// The `io` workload's host directory (bound at /tmp), removed at teardown and on drop.
    pub(super) io_dir: Option<IoDir>,
}

impl LxcInstance {
    fn spawned(&mut self) -> &mut Spawned {
        self.spawned.as_mut().expect("set at launch")
    }

    /// Removes the cgroups, container directory and lock file; cgroups get until `deadline`.
    fn remove_leftovers(&self, deadline: Instant) -> Result<(), Error> {
        for dir in &self.every_cgroup_dir {
            remove_cgroup_tree(dir, deadline)?;
        }
        remove_path(&self.container_dir)?;
        remove_path(&self.lock_file)
    }
}

impl Instance for LxcInstance {
    fn launched_ns(&self) -> u64 {
        self.spawned.as_ref().map_or(0, |s| s.launched_ns)
    }
    fn wait_ready(&mut self, timeout: Duration) -> Result<Ready, Error> {
        let name = self.name.clone();
        let spawned = self.spawned();
        match spawned.wait_ready_phase(timeout, PHASE) {
            Err(Error::DiedBeforeReady(_)) => {
                Err(Error::Engine(refusal(&name, &spawned.stderr_tail())))
            }
            other => other,
        }
    }
    fn resources(&self) -> Resources {
        let mut pids = self.spawned.as_ref().map_or(Vec::new(), |s| s.processes());
        let cgroup = self.memory.clone().filter(|c| c.dir().is_dir());
        // Anything in the container's cgroups but outside the monitor's tree is the instance's too.
        if let Some(cgroup) = &cgroup {
            pids.extend(cgroup.pids());
            pids.sort_unstable();
            pids.dedup();
        }
        let mut paths = vec![self.container_dir.clone(), self.lock_file.clone()];
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
        let deadline = Instant::now() + timeout;
        self.spawned().wait_gone_ok(timeout)?;
        // The monitor removed the payload and monitor cgroups and sits in no cgroup of ours
        // any more; the pivot it moved to, the instance's parent and the lock file are ours.
        self.remove_leftovers(deadline)?;
        self.io_dir.as_ref().map_or(Ok(()), IoDir::remove)
    }
}

impl Drop for LxcInstance {
    fn drop(&mut self) {
        if let Some(mut spawned) = self.spawned.take() {
            spawned.kill();
        }
        // A container whose monitor was killed mid-start may hold processes the tree walk
        // missed; they are in its cgroups.
        if let Some(cgroup) = &self.memory {
            let left = procs::identify(&cgroup.pids());
            procs::kill_all(&left);
            let _ =
                procs::wait_all_gone(&left, Duration::from_secs(5), "the container's processes");
        }
        let _ = self.remove_leftovers(Instant::now() + Duration::from_secs(2));
    }
}

/// One line for an `lxc-start` that exited before the probe was ready: LXC's first specific
/// error, without its source-file prefix (e.g. "lxc-start: c: ../src/lxc/conf.c: f: 12 Msg").
pub fn refusal(name: &str, stderr: &str) -> String {
    const GENERIC: [&str; 3] = [
        "The container failed to start",
        "Additional information can be obtained",
        "To get more details",
    ];
    let messages: Vec<String> = stderr
        .lines()
        .map(|line| strip_lxc_prefix(line).trim().to_string())
        .filter(|m| !m.is_empty() && !GENERIC.iter().any(|g| m.starts_with(g)))
        .collect();
    match messages.first() {
        Some(first) => format!(
            "LXC refused to start container {name}: {first}{}",
            match messages.len() {
                1 => String::new(),
                n => format!(" (and {} more lines)", n - 1),
            }
        ),
        None if stderr.trim().is_empty() => format!(
            "LXC refused to start container {name}: lxc-start exited before the probe was ready and said nothing"
        ),
        None => format!(
            "LXC refused to start container {name}: {}",
            stderr.lines().next().unwrap_or("").trim()
        ),
    }
}

/// "lxc-start: NAME: ../src/lxc/x.c: func: 123 Message" → "Message"; other lines unchanged.
fn strip_lxc_prefix(line: &str) -> &str {
    let Some(rest) = line.strip_prefix("lxc-start: ") else {
        return line;
    };
    // After the source location ("…: func: 123 "), the message.
    let Some(at) = rest.find(".c: ") else {
        return rest;
    };
    let after_file = &rest[at + 4..];
    let after_func = after_file.split_once(": ").map_or(after_file, |(_, m)| m);
    after_func
        .split_once(' ')
        .filter(|(number, _)| number.chars().all(|c| c.is_ascii_digit()))
        .map_or(after_func, |(_, message)| message)
}

/// Removes a cgroup directory and every cgroup below it (children first), retrying while
/// killed tasks finish leaving, until `deadline`.
pub fn remove_cgroup_tree(dir: &Path, deadline: Instant) -> Result<(), Error> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_cgroup_tree(&entry.path(), deadline)?;
        }
    }
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if Instant::now() >= deadline => {
                return Err(Error::io(format!("remove cgroup {}", dir.display()), e))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(1)),
        }
    }
}

/// Removes a file or directory tree; a missing one is fine.
fn remove_path(path: &Path) -> Result<(), Error> {
    let removed = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    match removed {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(Error::io(format!("remove {}", path.display()), e))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_is_lxcs_first_specific_error_in_one_line() {
        let stderr = "lxc-start: c1: ../src/lxc/conf.c: lxc_mount_rootfs: 1437 No such file or directory - Failed to access to \"/x/rootfs\"\n\
lxc-start: c1: ../src/lxc/start.c: __lxc_start: 2107 Failed to spawn container \"c1\"\n\
lxc-start: c1: ../src/lxc/tools/lxc_start.c: main: 306 The container failed to start\n\
lxc-start: c1: ../src/lxc/tools/lxc_start.c: main: 311 Additional information can be obtained by setting the --logfile and --logpriority options\n";
        let line = refusal("c1", stderr);
        assert_eq!(
            line,
            "LXC refused to start container c1: No such file or directory - Failed to access to \"/x/rootfs\" (and 1 more lines)"
        );
        assert!(!line.contains('\n'));
        assert!(refusal("c1", "").contains("said nothing"));
    }
}
