//! Orphaned instance cgroups: in every mounted cgroup hierarchy, the children of isobench's
//! parent cgroups (`isobench`, `isobench-oci`, `isobench-lxc`) whose owner is gone; what is
//! still running inside is killed, then the directories are removed deepest first.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::owner::{Claim, Liveness};
use super::Reaped;

/// The parent cgroups isobench's instance cgroups live in: the container's and the measuring
/// cgroups', the OCI runtimes' and LXC's.
pub const PARENT_NAMES: [&str; 3] = [
    crate::cgroup::PARENT_NAME,
    crate::external::oci::bundle::CGROUP_PARENT,
    crate::external::lxc::config::CGROUP_PARENT,
];

/// How deep below a hierarchy's root a parent is looked for (v1 parents sit below the harness's
/// own cgroup, e.g. `user.slice/user-0.slice/session-3.scope/isobench`).
const MAX_DEPTH: usize = 8;

/// How long one cgroup may stay busy after its processes were killed.
const REMOVE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one reap may wait on busy cgroups in all: past it, what is still busy is reported
/// at once instead of holding up the run that called the reaper.
const REAP_TIMEOUT: Duration = Duration::from_secs(10);

/// One instance cgroup found in one hierarchy.
#[derive(Debug, Clone)]
pub struct Found {
    pub dir: PathBuf,
    pub claim: Claim,
}

/// Mount points of every cgroup (v1) and cgroup2 hierarchy, from /proc/self/mountinfo.
pub fn hierarchies() -> Vec<PathBuf> {
    let mounts = match procfs::process::Process::myself().and_then(|p| p.mountinfo()) {
        Ok(mounts) => mounts,
        Err(_) => return Vec::new(),
    };
    let unique: BTreeSet<PathBuf> = mounts
        .into_iter()
        .filter(|m| m.fs_type == "cgroup" || m.fs_type == "cgroup2")
        .map(|m| m.mount_point)
        .collect();
    unique.into_iter().collect()
}

/// Every owner-named child of an isobench parent below `roots`.
pub fn find(roots: &[PathBuf]) -> Vec<Found> {
    let mut found = Vec::new();
    for root in roots {
        let mut stack = vec![(root.clone(), 0)];
        while let Some((dir, depth)) = stack.pop() {
            for child in subdirs(&dir) {
                let name = child.file_name().map(|n| n.to_string_lossy().into_owned());
                if name.as_deref().is_some_and(|n| PARENT_NAMES.contains(&n)) {
                    found.extend(subdirs(&child).into_iter().filter_map(|dir| {
                        let name = dir.file_name()?.to_string_lossy().into_owned();
                        let claim = Claim::parse(&name, true)?;
                        Some(Found { dir, claim })
                    }));
                } else if depth + 1 < MAX_DEPTH {
                    stack.push((child, depth + 1));
                }
            }
        }
    }
    found.sort_by(|a, b| a.dir.cmp(&b.dir));
    found
}

/// Kills what runs in each orphan (owner gone) and removes it; records what it did in `reaped`.
pub fn reap(found: Vec<Found>, reaped: &mut Reaped) {
    let mut emptied_parents = BTreeSet::new();
    let reap_deadline = Instant::now() + REAP_TIMEOUT;
    for orphan in found
        .into_iter()
        .filter(|f| f.claim.liveness() == Liveness::Gone && super::may_remove(&f.dir))
    {
        reaped.owners.insert(orphan.claim.pid());
        let deadline = reap_deadline.min(Instant::now() + REMOVE_TIMEOUT);
        match remove_tree(&orphan.dir, deadline) {
            Ok(killed) => {
                reaped.killed_pids.extend(killed);
                if let Some(parent) = orphan.dir.parent() {
                    emptied_parents.insert(parent.to_path_buf());
                }
                reaped.cgroups.push(orphan.dir);
            }
            Err(failure) => reaped.failures.push(failure),
        }
    }
    // A parent left empty goes too; one another isobench still uses is busy and stays (and
    // isobench recreates its parent when it finds it gone).
    for parent in emptied_parents {
        let _ = std::fs::remove_dir(parent);
    }
}

/// Kills every process in `top` and its descendants, then removes them deepest first, waiting
/// on busy ones until `deadline`. Returns the pids it signalled, or why the tree stays.
pub fn remove_tree(top: &Path, deadline: Instant) -> Result<BTreeSet<i32>, String> {
    let dirs = tree(top);
    let killed = kill_all(top, &dirs, deadline)?;
    for dir in dirs.iter().rev() {
        loop {
            match std::fs::remove_dir(dir) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => return Err(format!("cannot remove cgroup {}: {e}", dir.display())),
            }
        }
    }
    Ok(killed)
}

/// `top` and every directory below it, parents before children.
fn tree(top: &Path) -> Vec<PathBuf> {
    let mut all = vec![top.to_path_buf()];
    let mut next = 0;
    while next < all.len() {
        let children = subdirs(&all[next]);
        all.extend(children);
        next += 1;
    }
    all
}

/// SIGKILLs everything in `dirs`: `cgroup.kill` on cgroup2 (Linux 5.14+, the whole subtree at
/// once), otherwise each listed pid, again until every `cgroup.procs` is empty.
fn kill_all(top: &Path, dirs: &[PathBuf], deadline: Instant) -> Result<BTreeSet<i32>, String> {
    let mut signalled = BTreeSet::new();
    let kill_file = top.join("cgroup.kill");
    loop {
        let pids: Vec<i32> = dirs.iter().flat_map(|d| procs(d)).collect();
        if pids.is_empty() {
            return Ok(signalled);
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{}: processes {pids:?} survive SIGKILL (stopped in a frozen cgroup?)",
                top.display()
            ));
        }
        if !(kill_file.exists() && std::fs::write(&kill_file, "1").is_ok()) {
            for &pid in &pids {
                let sent = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
                if sent == Err(nix::errno::Errno::EPERM) {
                    return Err(format!(
                        "{}: not permitted to kill process {pid} in it",
                        top.display()
                    ));
                }
            }
        }
        signalled.extend(pids);
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The pids listed in a cgroup's `cgroup.procs`.
fn procs(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// The subdirectories of `dir` (none when it cannot be read).
fn subdirs(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}
