//! Starting a command inside an instance cgroup from its first instruction, so that everything it
//! and the kernel allocate for it — pages, KVM's VM and vCPU structures, the namespaces an engine
//! creates — is charged to the instance rather than to the harness.
//!
//! - cgroup v1: the launching thread moves itself into the instance's directories through their
//!   `tasks` files, spawns (the child inherits the thread's cgroups, and even its task structure
//!   and kernel stack are charged there), then moves back home. A thread moving itself through
//!   `tasks` takes no global lock, and `posix_spawn` stays usable.
//! - cgroup v2: threads of one process cannot sit in different domain cgroups, so the child joins
//!   between fork and exec by writing "0" to `cgroup.procs`; the fork itself stays charged to us.
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

use std::sync::Arc;

use super::{CgroupPlan, InstanceCgroup};
use crate::Error;

/// Where a launching thread returns to after stepping into a v1 instance cgroup: our own
/// `tasks` in each hierarchy the plan creates directories in, in the plan's order. Opened once
/// per launcher (every thread of the harness sits in the same cgroups).
#[derive(Debug)]
pub struct Home {
    tasks: Vec<OwnedFd>,
}

impl CgroupPlan {
    /// Our way home for [`InstanceCgroup::step_in`]: Some on v1, None where threads do not move
    /// alone (v2) or there are no cgroups.
    pub fn home(&self) -> Result<Option<Arc<Home>>, Error> {
        match self {
            CgroupPlan::V1 { .. } => Ok(Some(Arc::new(Home::open(&self.parents())?))),
            _ => Ok(None),
        }
    }
}

impl Home {
    /// Opens our own `tasks` in the hierarchy of each of `dirs` (directories below a hierarchy's
    /// mount point), from /proc/thread-self/cgroup.
    fn open(dirs: &[std::path::PathBuf]) -> Result<Home, Error> {
        let own = std::fs::read_to_string("/proc/thread-self/cgroup")
            .map_err(|e| Error::io("/proc/thread-self/cgroup", e))?;
        let mut tasks = Vec::new();
        for dir in dirs {
            let hierarchy = hierarchy_of(dir).ok_or_else(|| {
                Error::Engine(format!("{}: not below a cgroup hierarchy", dir.display()))
            })?;
            let controller = hierarchy
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let path = super::plan::own_cgroup_path(&own, |_, list| {
                list == controller || list.split(',').any(|c| c == controller)
            })
            .unwrap_or_default();
            tasks.push(super::instance::open(
                &hierarchy.join(path).join("tasks"),
                libc::O_WRONLY,
            )?);
        }
        Ok(Home { tasks })
    }
}

/// `/sys/fs/cgroup/memory` for `/sys/fs/cgroup/memory/a/b`: the mount point of the hierarchy,
/// found as the nearest ancestor whose parent holds no `cgroup.procs`.
fn hierarchy_of(dir: &std::path::Path) -> Option<std::path::PathBuf> {
    let mut current = dir.to_path_buf();
    loop {
        let parent = current.parent()?.to_path_buf();
        if !parent.join("cgroup.procs").exists() {
            return Some(current);
        }
        current = parent;
    }
}

/// Writes "0" (the calling thread, or process for `cgroup.procs`) to each descriptor.
fn join(fds: &[RawFd]) -> std::io::Result<()> {
    for &fd in fds {
        // SAFETY: fd is an open cgroup `tasks`/`cgroup.procs` descriptor; we pass a 1-byte buffer.
        if unsafe { libc::write(fd, c"0".as_ptr().cast(), 1) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

impl InstanceCgroup {
    /// v1: moves the calling thread into this cgroup (every hierarchy), so that what it creates
    /// next — a child, its task structure and stack, namespaces — is charged here. Pair it with
    /// [`InstanceCgroup::step_out`] at once.
    pub fn step_in(&self) -> Result<(), Error> {
        if let Err(e) = join(&self.join_fds()) {
            let _ = self.step_out();
            return Err(Error::io(
                "move the launching thread into the instance cgroup",
                e,
            ));
        }
        Ok(())
    }

    /// v1: moves the calling thread back to our own cgroups.
    pub fn step_out(&self) -> Result<(), Error> {
        let home = self.home.as_ref().ok_or_else(|| {
            Error::Engine("no home cgroup to return the launching thread to".into())
        })?;
        let fds: Vec<RawFd> = home.tasks.iter().map(|fd| fd.as_raw_fd()).collect();
        join(&fds).map_err(|e| Error::io("move the launching thread back to its own cgroup", e))
    }

    /// Spawns `command` so that its process lives in this cgroup from the start.
    /// v2 (or v1 when we cannot step back home, e.g. our own cgroup is not writable to us):
    /// the child joins between fork and exec instead.
    pub fn spawn_inside(&mut self, command: &mut Command) -> Result<Child, Error> {
        let child_joins: Option<Vec<RawFd>> = match self.v2_procs()? {
            Some(procs) => Some(vec![procs]),
            None if self.home.is_none() => Some(self.join_fds()),
            None => None,
        };
        if let Some(fds) = child_joins {
            // SAFETY: the closure runs in the forked child before exec; it calls write(2) on
            // descriptors that stay open until then and allocates nothing (`fds` is moved in).
            unsafe {
                command.pre_exec(move || join(&fds));
            }
            return command
                .spawn()
                .map_err(|e| Error::io(format!("spawn {:?}", command.get_program()), e));
        }
        self.step_in()?;
        let spawned = command.spawn();
        let back = self.step_out();
        let child =
            spawned.map_err(|e| Error::io(format!("spawn {:?}", command.get_program()), e))?;
        if let Err(e) = back {
            // Our thread would keep the instance's directories busy: give up on this instance.
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
        Ok(child)
    }
}
