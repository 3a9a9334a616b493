//! One cgroup per instance: the `isobench` parents made ready once, then per instance a
//! directory created at launch, handed to the child, killed and removed at teardown.
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::memory_source::CgroupMemorySource;
use super::plan::CgroupPlan;
use std::sync::Arc;

use super::spawn::Home;
use crate::Error;

impl CgroupPlan {
    /// Creates the parent directories and, on v2, enables the planned controllers for their
    /// children (in the parent's own parent first). Untimed: call it from `prepare`.
    pub fn ensure_parents(&self) -> Result<(), Error> {
        for parent in self.parents() {
            match std::fs::create_dir(&parent) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return Err(Error::io(
                        format!("cannot create cgroup {}", parent.display()),
                        e,
                    ))
                }
            }
        }
        if let CgroupPlan::V2 {
            parent,
            controllers,
        } = self
        {
            let grandparent = parent.parent().unwrap_or(parent);
            for dir in [grandparent, parent.as_path()] {
                enable_controllers(dir, controllers)?;
            }
        }
        Ok(())
    }

    /// Removes the parents if they are empty (no instance of anyone left), best effort. A
    /// parent inside the harness's own cgroup must not outlive the harness, or it would keep
    /// whoever manages that cgroup from removing it.
    pub fn remove_parents(&self) {
        for parent in self.parents() {
            let _ = std::fs::remove_dir(parent);
        }
    }

    /// Creates the cgroup of one instance, named `<owner tag>-<counter>` (see
    /// [`crate::orphans`]: a later isobench removes it if we die without doing so). Recreates
    /// the parents when someone removed them since [`CgroupPlan::ensure_parents`].
    pub fn create_instance(&self) -> Result<InstanceCgroup, Error> {
        match self.try_create_instance() {
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                self.ensure_parents()?;
                self.try_create_instance()
            }
            result => result,
        }
    }

    fn try_create_instance(&self) -> Result<InstanceCgroup, Error> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "{}-{}",
            crate::orphans::Owner::current().tag(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut cgroup = InstanceCgroup {
            dirs: Vec::new(),
            v2_dir: None,
            v1_tasks: Vec::new(),
            v2_procs: None,
            home: None,
            memory: None,
        };
        match self {
            CgroupPlan::V2 {
                parent,
                controllers,
            } => {
                let dir = cgroup.make_dir(parent.join(&name))?;
                cgroup.v2_dir = Some(open(&dir, libc::O_RDONLY | libc::O_DIRECTORY)?);
                if controllers.iter().any(|c| c == "memory") {
                    cgroup.memory = Some(CgroupMemorySource::V2(dir));
                }
            }
            CgroupPlan::V1 {
                memory_parent,
                pids_parent,
            } => {
                for parent in std::iter::once(memory_parent).chain(pids_parent) {
                    let dir = cgroup.make_dir(parent.join(&name))?;
                    cgroup
                        .v1_tasks
                        .push(open(&dir.join("tasks"), libc::O_WRONLY)?);
                }
                cgroup.memory = Some(CgroupMemorySource::V1(memory_parent.join(&name)));
            }
            CgroupPlan::Unavailable { reason } => return Err(Error::Unavailable(reason.clone())),
        }
        Ok(cgroup)
    }
}

fn enable_controllers(dir: &Path, controllers: &[String]) -> Result<(), Error> {
    let file = dir.join("cgroup.subtree_control");
    let enabled = std::fs::read_to_string(&file).unwrap_or_default();
    let missing: Vec<String> = controllers
        .iter()
        .filter(|c| !enabled.split_whitespace().any(|e| e == c.as_str()))
        .map(|c| format!("+{c}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    std::fs::write(&file, missing.join(" ")).map_err(|e| {
        Error::io(
            format!(
                "cannot enable {} in {} (a cgroup2 directory that holds processes cannot hand controllers to children)",
                missing.join(" "),
                file.display()
            ),
            e,
        )
    })
}

pub(super) fn open(path: &Path, flags: libc::c_int) -> Result<OwnedFd, Error> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::BadInput(format!("{}: NUL in path", path.display())))?;
    // SAFETY: c_path is a valid NUL-terminated string; open returns a new descriptor or -1.
    let fd = unsafe { libc::open(c_path.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(Error::io(
            format!("cannot open {}", path.display()),
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: the descriptor was just returned by open and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The cgroup directories of one instance. Dropping it kills what is left inside and removes them.
#[derive(Debug)]
pub struct InstanceCgroup {
    /// Every directory created for the instance (one on v2; memory and pids on v1).
    dirs: Vec<PathBuf>,
    /// v2: the directory, open for `clone3(CLONE_INTO_CGROUP)`.
    v2_dir: Option<OwnedFd>,
    /// v1: each directory's `tasks`, open for writing, for the child to move itself in with "0".
    ///
    /// Not `cgroup.procs`: moving a whole thread group takes the global cgroup_threadgroup_rwsem
    /// for writing, which waits for an RCU grace period whenever no migration happened lately
    /// (5–20 ms on our hosts). A single-threaded task moving itself through `tasks` skips that
    /// lock; before exec our child is exactly that.
    v1_tasks: Vec<OwnedFd>,
    /// v2: `cgroup.procs`, opened on first use by [`InstanceCgroup::spawn_inside`].
    v2_procs: Option<OwnedFd>,
    /// v1: our own `tasks` files, for [`InstanceCgroup::step_out`].
    pub(super) home: Option<Arc<Home>>,
    memory: Option<CgroupMemorySource>,
}

impl InstanceCgroup {
    fn make_dir(&mut self, dir: PathBuf) -> Result<PathBuf, Error> {
        std::fs::create_dir(&dir)
            .map_err(|e| Error::io(format!("cannot create cgroup {}", dir.display()), e))?;
        self.dirs.push(dir.clone());
        Ok(dir)
    }

    /// The v2 directory descriptor for `CLONE_INTO_CGROUP`, if this is a v2 cgroup.
    pub fn clone_into_fd(&self) -> Option<RawFd> {
        self.v2_dir.as_ref().map(|fd| fd.as_raw_fd())
    }

    /// v1 `tasks` descriptors the child writes "0" to, joining before it unshares its
    /// cgroup namespace.
    pub fn join_fds(&self) -> Vec<RawFd> {
        self.v1_tasks.iter().map(|fd| fd.as_raw_fd()).collect()
    }

    /// Closes the descriptors the child needed, once it runs.
    pub fn close_launch_fds(&mut self) {
        self.v2_dir = None;
        self.v1_tasks.clear();
        self.v2_procs = None;
    }

    /// Gives the instance our way home (from [`CgroupPlan::home`]) for
    /// [`InstanceCgroup::step_out`], and on v2 opens `cgroup.procs` for
    /// [`InstanceCgroup::spawn_inside`]: everything a spawn needs, before the caller's clock starts.
    pub fn prepare_spawn(&mut self, home: Option<Arc<Home>>) -> Result<(), Error> {
        if let Some(dir) = self.v2_dir.is_some().then(|| self.dirs[0].clone()) {
            if self.v2_procs.is_none() {
                self.v2_procs = Some(open(&dir.join("cgroup.procs"), libc::O_WRONLY)?);
            }
        }
        if home.is_some() {
            self.home = home;
        }
        Ok(())
    }

    pub(super) fn v2_procs(&mut self) -> Result<Option<RawFd>, Error> {
        self.prepare_spawn(None)?;
        Ok(self.v2_procs.as_ref().map(|fd| fd.as_raw_fd()))
    }

    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    pub fn memory_source(&self) -> Option<CgroupMemorySource> {
        self.memory.clone()
    }

    /// Every pid in any of the instance's directories (host pid namespace).
    pub fn pids(&self) -> Vec<i32> {
        let mut pids: Vec<i32> = self
            .dirs
            .iter()
            .filter_map(|dir| std::fs::read_to_string(dir.join("cgroup.procs")).ok())
            .flat_map(|text| {
                text.split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect::<Vec<i32>>()
            })
            .collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// SIGKILLs everything inside: `cgroup.kill` where the kernel has it (v2, 5.14+), otherwise
    /// each listed pid, repeated so that nothing forked in between survives.
    pub fn kill_all(&self) {
        if let Some(dir) = self.dirs.first().filter(|d| d.join("cgroup.kill").exists()) {
            if std::fs::write(dir.join("cgroup.kill"), "1").is_ok() {
                return;
            }
        }
        for _ in 0..10 {
            let pids = self.pids();
            if pids.is_empty() {
                return;
            }
            for pid in pids {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// Removes every directory, retrying while the kernel still reports it busy (exiting tasks),
    /// and checks they are gone.
    pub fn remove(&mut self, timeout: Duration) -> Result<(), Error> {
        self.close_launch_fds();
        let deadline = Instant::now() + timeout;
        while let Some(dir) = self.dirs.last().cloned() {
            match std::fs::remove_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_micros(100));
                    continue;
                }
                Err(e) => {
                    return Err(Error::io(
                        format!("cannot remove cgroup {}", dir.display()),
                        e,
                    ))
                }
            }
            if dir.exists() {
                return Err(Error::Engine(format!(
                    "cgroup {} still exists after rmdir",
                    dir.display()
                )));
            }
            self.dirs.pop();
        }
        Ok(())
    }
}

impl Drop for InstanceCgroup {
    fn drop(&mut self) {
        if !self.dirs.is_empty() {
            self.kill_all();
            let _ = self.remove(Duration::from_secs(2));
        }
    }
}
