//! Crash recovery: what an isobench killed with SIGKILL (or a power cut of its process) left on
//! the host, found by owner and removed by the next isobench.
//!
//! Every instance cgroup, engine container id and scratch dir carries its creator's owner tag
//! ([`owner::Owner::tag`]: pid, start time, pid namespace) in its name: cgroupfs allows no file
//! beside a cgroup, and a name is written in the same step that creates the resource, so nothing
//! exists unowned even for an instant. [`reap`] looks in every mounted cgroup hierarchy below
//! isobench's parent cgroups (`isobench`, `isobench-oci`, `isobench-lxc`) and in the temp dir for
//! `isobench-<tag>-*` dirs, and removes those whose owner is gone: it kills what still runs in
//! the cgroups (`cgroup.kill`, or SIGKILL to every listed pid until none is left), unmounts
//! anything mounted below a scratch dir, then removes the dirs and cgroups (and LXC's lock dir
//! for a private lxcpath inside a scratch dir). What belongs to a live process, to a process in
//! another pid namespace, or carries no owner tag is never touched; instance cgroups named by an
//! isobench from before owner tags (`<pid>-<n>`) go only once no process has that pid.
//!
//! Files being written into the cache (`.partial-<tag>-…`, renamed into place when complete:
//! an extracted vmlinux, the VMM binary, an unpacked rootfs archive's dir) are removed the same
//! way when their writer is gone.
//!
//! Not covered: Docker/Podman containers (their engine owns them), temporary files in result
//! directories, scratch dirs under a TMPDIR other than this process's.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub mod cgroups;
pub mod engine_procs;
pub mod owner;
pub mod scratch;

pub use owner::{Claim, Liveness, Owner};

/// Start of the name of a file being written into the cache: `.partial-<owner tag>-…`.
pub const PARTIAL_PREFIX: &str = ".partial-";

/// Where leftovers are looked for.
#[derive(Debug, Clone)]
pub struct Places {
    /// Scratch dirs: `isobench-<tag>-*` directly inside.
    pub tmp_dir: PathBuf,
    /// Partial files: `.partial-<tag>-*` up to a few levels below.
    pub cache_dir: PathBuf,
    /// Mount points of cgroup hierarchies.
    pub cgroup_roots: Vec<PathBuf>,
}

impl Places {
    /// This process's TMPDIR and isobench cache, and every mounted cgroup hierarchy.
    pub fn of_this_process() -> Places {
        Places {
            tmp_dir: std::env::temp_dir(),
            cache_dir: crate::microvm::guest::cache_dir(),
            cgroup_roots: cgroups::hierarchies(),
        }
    }
}

/// What one [`reap`] removed, and what it could not.
#[derive(Debug, Default, Clone)]
pub struct Reaped {
    /// Instance cgroup directories removed (one per hierarchy the instance had).
    pub cgroups: Vec<PathBuf>,
    pub scratch_dirs: Vec<PathBuf>,
    /// Mounts below scratch dirs, unmounted before removing them.
    pub mounts: Vec<PathBuf>,
    /// Other leftovers: LXC lock dirs, partial files in the cache.
    pub other: Vec<PathBuf>,
    /// Processes still running in orphaned cgroups, killed (one pid may be listed in the
    /// instance's cgroup of several hierarchies: counted once).
    pub killed_pids: BTreeSet<i32>,
    /// Pids of the gone owners whose leftovers were found.
    pub owners: BTreeSet<i32>,
    /// What stays, and why.
    pub failures: Vec<String>,
}

/// Removes what gone isobench processes left: cgroups in every mounted hierarchy, scratch dirs
/// in this process's temp dir (TMPDIR), partial files in the cache.
pub fn reap() -> Reaped {
    reap_in(&Places::of_this_process())
}

/// [`reap`] in `places`.
pub fn reap_in(places: &Places) -> Reaped {
    let mut reaped = Reaped::default();
    // Engine processes of a gone owner first: one still starting could create a cgroup after
    // the cgroups were looked at.
    let (killed, owners) = engine_procs::kill_orphaned();
    reaped.killed_pids.extend(killed);
    reaped.owners.extend(owners);
    // Cgroups next: the processes in them may still use files in the scratch dirs.
    cgroups::reap(cgroups::find(&places.cgroup_roots), &mut reaped);
    scratch::reap(&places.tmp_dir, &mut reaped);
    scratch::reap_partial_files(&places.cache_dir, &mut reaped);
    reaped
}

impl Reaped {
    /// True when nothing was found to remove.
    pub fn is_empty(&self) -> bool {
        !self.removed_anything() && self.failures.is_empty()
    }

    /// True when something was removed, unmounted or killed.
    pub fn removed_anything(&self) -> bool {
        !(self.cgroups.is_empty()
            && self.scratch_dirs.is_empty()
            && self.mounts.is_empty()
            && self.other.is_empty()
            && self.killed_pids.is_empty())
    }

    /// Removed cgroups counted by parent directory, e.g. `930 in /sys/fs/cgroup/pids/isobench`.
    pub fn cgroups_by_parent(&self) -> Vec<String> {
        let mut counts: BTreeMap<&Path, usize> = BTreeMap::new();
        for dir in &self.cgroups {
            *counts.entry(dir.parent().unwrap_or(dir)).or_default() += 1;
        }
        counts
            .into_iter()
            .map(|(parent, n)| format!("{n} in {}", parent.display()))
            .collect()
    }

    /// One line for the start of `run` and `density`: counts, where, and whose; or, when
    /// nothing could be removed, what stays and what to do.
    pub fn summary(&self) -> String {
        if !self.removed_anything() {
            return format!(
                "{} leftovers of killed isobench processes stay, first: {} — see `isobench clean`",
                self.failures.len(),
                self.failures.first().map(String::as_str).unwrap_or("none")
            );
        }
        let owners: Vec<String> = self.owners.iter().map(i32::to_string).collect();
        let mut parts = Vec::new();
        if !self.cgroups.is_empty() {
            parts.push(format!(
                "{} cgroups ({})",
                self.cgroups.len(),
                self.cgroups_by_parent().join(", ")
            ));
        }
        if !self.scratch_dirs.is_empty() {
            parts.push(format!(
                "{} scratch dirs ({})",
                self.scratch_dirs.len(),
                joined(&self.scratch_dirs, 3)
            ));
        }
        if !self.mounts.is_empty() {
            parts.push(format!("{} mounts", self.mounts.len()));
        }
        if !self.other.is_empty() {
            parts.push(format!("{} lock dirs and partial files", self.other.len()));
        }
        if !self.killed_pids.is_empty() {
            parts.push(format!("killed {} processes", self.killed_pids.len()));
        }
        let mut line = format!(
            "removed what killed isobench processes left (pid {}): {}",
            owners.join(", "),
            parts.join("; ")
        );
        if let Some(first) = self.failures.first() {
            line.push_str(&format!(
                "; {} left in place, first: {first}",
                self.failures.len()
            ));
        }
        line
    }

    /// Every line `isobench clean` prints: what went, per kind, and what stays.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if !self.cgroups.is_empty() {
            lines.push(format!(
                "removed {} cgroups: {}",
                self.cgroups.len(),
                self.cgroups_by_parent().join(", ")
            ));
        }
        for (what, paths) in [
            ("unmounted", &self.mounts),
            ("removed scratch dir", &self.scratch_dirs),
            ("removed", &self.other),
        ] {
            lines.extend(paths.iter().map(|p| format!("{what} {}", p.display())));
        }
        if !self.killed_pids.is_empty() {
            lines.push(format!(
                "killed {} processes still running in them",
                self.killed_pids.len()
            ));
        }
        if !self.owners.is_empty() {
            let owners: Vec<String> = self.owners.iter().map(i32::to_string).collect();
            lines.push(format!("left by gone isobench pid {}", owners.join(", ")));
        }
        lines.extend(
            self.failures
                .iter()
                .map(|f| format!("could not clean: {f}")),
        );
        lines
    }
}

/// Root may remove any owner's leftovers; another user only what it owns (the rest is root's,
/// and trying would only fail on every run).
fn may_remove(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let euid = nix::unistd::geteuid();
    euid.is_root() || std::fs::symlink_metadata(path).is_ok_and(|meta| meta.uid() == euid.as_raw())
}

fn joined(paths: &[PathBuf], at_most: usize) -> String {
    let mut names: Vec<String> = paths
        .iter()
        .take(at_most)
        .map(|p| p.display().to_string())
        .collect();
    if paths.len() > at_most {
        names.push(format!("… {} more", paths.len() - at_most));
    }
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reaped() -> Reaped {
        let memory = Path::new("/sys/fs/cgroup/memory/isobench");
        let pids = Path::new("/sys/fs/cgroup/pids/isobench");
        Reaped {
            cgroups: vec![
                memory.join("1-2-3-0"),
                memory.join("1-2-3-1"),
                pids.join("1-2-3-0"),
            ],
            scratch_dirs: vec![PathBuf::from("/tmp/isobench-1-2-3-container-a")],
            killed_pids: BTreeSet::from([7, 8]),
            owners: BTreeSet::from([1]),
            ..Reaped::default()
        }
    }

    #[test]
    fn the_summary_names_counts_places_and_owners_on_one_line() {
        let line = reaped().summary();
        assert_eq!(
            line,
            "removed what killed isobench processes left (pid 1): 3 cgroups (2 in \
             /sys/fs/cgroup/memory/isobench, 1 in /sys/fs/cgroup/pids/isobench); 1 scratch dirs \
             (/tmp/isobench-1-2-3-container-a); killed 2 processes"
        );
        let mut failed = reaped();
        failed.failures.push("cannot remove cgroup x: busy".into());
        assert!(failed
            .summary()
            .ends_with("; 1 left in place, first: cannot remove cgroup x: busy"));
    }

    #[test]
    fn only_failures_say_what_stays() {
        let only_failed = Reaped {
            failures: vec!["cannot remove cgroup x: permission denied".into()],
            ..Reaped::default()
        };
        assert!(!only_failed.is_empty() && !only_failed.removed_anything());
        assert!(only_failed.summary().starts_with(
            "1 leftovers of killed isobench processes stay, first: cannot remove cgroup x"
        ));
        assert!(Reaped::default().is_empty());
    }

    #[test]
    fn clean_lists_every_scratch_dir_and_the_cgroups_per_parent() {
        let lines = reaped().lines();
        assert_eq!(
            lines,
            [
                "removed 3 cgroups: 2 in /sys/fs/cgroup/memory/isobench, 1 in /sys/fs/cgroup/pids/isobench",
                "removed scratch dir /tmp/isobench-1-2-3-container-a",
                "killed 2 processes still running in them",
                "left by gone isobench pid 1",
            ]
        );
    }
}
