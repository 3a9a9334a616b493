//! Where per-instance cgroups go: the `isobench` parent chosen from the layout, our own
//! membership (/proc/self/cgroup) and who we are (root, or the owner of a delegated subtree).
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::CgroupLayout;

/// Name of the parent cgroup every instance cgroup is created in.
pub const PARENT_NAME: &str = "isobench";

/// Who creates the cgroups: root may write anywhere; other users only into a subtree they own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Creator {
    Root,
    User { uid: u32 },
}

impl Creator {
    pub fn current() -> Creator {
        let euid = nix::unistd::geteuid();
        if euid.is_root() {
            Creator::Root
        } else {
            Creator::User { uid: euid.as_raw() }
        }
    }
}

/// The parent directories instance cgroups are created under, or why there are none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupPlan {
    /// cgroup2: one directory per instance under `parent`. `controllers` are those the parent
    /// will enable for its children (memory and pids where the hierarchy offers them).
    V2 {
        parent: PathBuf,
        controllers: Vec<String>,
    },
    /// cgroup v1 (legacy or hybrid): one directory per instance in the memory hierarchy, and in
    /// the pids hierarchy when it is mounted.
    V1 {
        memory_parent: PathBuf,
        pids_parent: Option<PathBuf>,
    },
    /// Instances run without a cgroup of their own; the reason says why and what to do.
    Unavailable { reason: String },
}

impl CgroupPlan {
    /// The plan for this process on this host.
    pub fn detect(layout: &CgroupLayout) -> CgroupPlan {
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        CgroupPlan::plan(layout, &own, Creator::current())
    }

    /// Chooses the parents from `layout`, the text of /proc/self/cgroup and `creator`.
    ///
    /// - v2 as root: `<root>/isobench`, a child of the root cgroup, the one cgroup that may both
    ///   hold processes and hand controllers to its children.
    /// - v1 as root: `<hierarchy>/<our own cgroup>/isobench`, so instances stay inside whatever
    ///   limits the harness itself runs under (v1 has no "no internal processes" rule).
    /// - not root: under the topmost ancestor of our own cgroup that we own (a delegated subtree,
    ///   e.g. systemd's `user@UID.service`), or no cgroup at all.
    pub fn plan(layout: &CgroupLayout, self_cgroup: &str, creator: Creator) -> CgroupPlan {
        match layout {
            CgroupLayout::Unified { root } => plan_v2(root, self_cgroup, creator),
            CgroupLayout::Legacy { root } | CgroupLayout::Hybrid { root, .. } => {
                plan_v1(root, self_cgroup, creator)
            }
            CgroupLayout::Unsupported { reason } => CgroupPlan::Unavailable {
                reason: reason.clone(),
            },
        }
    }

    /// Where instance memory is charged, if anywhere (for notes and tests).
    pub fn memory_parent(&self) -> Option<&Path> {
        match self {
            CgroupPlan::V2 {
                parent,
                controllers,
            } => controllers
                .iter()
                .any(|c| c == "memory")
                .then_some(parent.as_path()),
            CgroupPlan::V1 { memory_parent, .. } => Some(memory_parent),
            CgroupPlan::Unavailable { .. } => None,
        }
    }

    /// Every parent directory instance cgroups are created in.
    pub fn parents(&self) -> Vec<PathBuf> {
        match self {
            CgroupPlan::V2 { parent, .. } => vec![parent.clone()],
            CgroupPlan::V1 {
                memory_parent,
                pids_parent,
            } => std::iter::once(memory_parent.clone())
                .chain(pids_parent.clone())
                .collect(),
            CgroupPlan::Unavailable { .. } => Vec::new(),
        }
    }
}

/// The path of our own cgroup in the hierarchy whose /proc/self/cgroup line satisfies `matches`
/// (the controller list for v1, the empty list with id 0 for v2), relative, without the leading `/`.
pub fn own_cgroup_path(self_cgroup: &str, matches: impl Fn(&str, &str) -> bool) -> Option<String> {
    self_cgroup.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (id, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        matches(id, controllers).then(|| path.trim_start_matches('/').to_string())
    })
}

fn plan_v2(root: &Path, self_cgroup: &str, creator: Creator) -> CgroupPlan {
    let own = own_cgroup_path(self_cgroup, |id, controllers| {
        id == "0" && controllers.is_empty()
    })
    .unwrap_or_default();
    let base = match creator {
        Creator::Root => root.to_path_buf(),
        Creator::User { uid } => match delegated_ancestor(root, &own, uid) {
            Some(base) => base,
            None => return not_delegated(&root.join(&own), uid),
        },
    };
    let offered = std::fs::read_to_string(base.join("cgroup.controllers")).unwrap_or_default();
    let controllers = offered
        .split_whitespace()
        .filter(|c| matches!(*c, "memory" | "pids"))
        .map(String::from)
        .collect();
    CgroupPlan::V2 {
        parent: base.join(PARENT_NAME),
        controllers,
    }
}

fn plan_v1(root: &Path, self_cgroup: &str, creator: Creator) -> CgroupPlan {
    let parent_in = |controller: &str| -> Result<Option<PathBuf>, CgroupPlan> {
        let hierarchy = root.join(controller);
        if !hierarchy.join("cgroup.procs").is_file() {
            return Ok(None);
        }
        let own = own_cgroup_path(self_cgroup, |_, list| {
            list.split(',').any(|c| c == controller)
        })
        .unwrap_or_default();
        let base = match creator {
            Creator::Root => hierarchy.join(&own),
            Creator::User { uid } => delegated_ancestor(&hierarchy, &own, uid)
                .ok_or_else(|| not_delegated(&hierarchy.join(&own), uid))?,
        };
        Ok(Some(base.join(PARENT_NAME)))
    };
    let memory_parent = match parent_in("memory") {
        Ok(Some(parent)) => parent,
        Ok(None) => {
            return CgroupPlan::Unavailable {
                reason: format!(
                    "{}: no v1 memory hierarchy — mount the memory controller there",
                    root.join("memory").display()
                ),
            }
        }
        Err(plan) => return plan,
    };
    // A pids hierarchy we may not write into is no reason to drop the memory cgroup.
    let pids_parent = parent_in("pids").ok().flatten();
    CgroupPlan::V1 {
        memory_parent,
        pids_parent,
    }
}

/// The topmost directory on the way from `hierarchy` down to `hierarchy/own` that `uid` owns,
/// where every directory below it is owned by `uid` too.
fn delegated_ancestor(hierarchy: &Path, own: &str, uid: u32) -> Option<PathBuf> {
    let mut dir = hierarchy.join(own);
    let mut found = None;
    while dir.starts_with(hierarchy) {
        match std::fs::metadata(&dir) {
            Ok(meta) if meta.uid() == uid => found = Some(dir.clone()),
            _ => break,
        }
        if dir == hierarchy || !dir.pop() {
            break;
        }
    }
    found
}

fn not_delegated(own_dir: &Path, uid: u32) -> CgroupPlan {
    CgroupPlan::Unavailable {
        reason: format!(
            "no cgroup delegated to uid {uid} (our cgroup {} is not ours) — run as root, or under \
             `systemd-run --user --scope -p Delegate=yes`; memory is measured from PSS only",
            own_dir.display()
        ),
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
