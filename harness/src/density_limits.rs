//! Which cgroup limit a density point ran into: the counters the kernel keeps when a cgroup's
//! memory or pids limit is hit, read before and after the point in every cgroup whose limit can
//! apply (isobench's own cgroups, where its process instances are charged, and the parents of
//! the instance cgroups, with all their ancestors).
//!
//! cgroup v2: `memory.events` (`max`, `oom`, `oom_kill`) and `pids.events` (`max`); v1:
//! `memory.failcnt` and `memory.oom_control`'s `oom_kill`, and `pids.events` (`max`).
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use isolators::cgroup::plan::own_cgroup_path;
use isolators::cgroup::{CgroupLayout, CgroupPlan};

/// One counter: the file (and key) it is read from, and its value.
type Counter = (String, u64);

/// The counters of every watched cgroup, as read at one moment.
pub struct LimitCounters(Vec<(PathBuf, Vec<Counter>)>);

/// Counter files, with the key inside them (None: the whole file is the number), by controller.
const MEMORY_COUNTERS: [(&str, Option<&str>); 5] = [
    ("memory.events", Some("max")),
    ("memory.events", Some("oom")),
    ("memory.events", Some("oom_kill")),
    ("memory.failcnt", None),
    ("memory.oom_control", Some("oom_kill")),
];
const PIDS_COUNTERS: [(&str, Option<&str>); 1] = [("pids.events", Some("max"))];

/// What the limit is, and the peak it saw, quoted beside the counters (first file found).
const MEMORY_CONTEXT: [&str; 4] = [
    "memory.max",
    "memory.limit_in_bytes",
    "memory.peak",
    "memory.max_usage_in_bytes",
];
const PIDS_CONTEXT: [&str; 2] = ["pids.max", "pids.peak"];

impl LimitCounters {
    /// Reads the counters now.
    pub fn read() -> LimitCounters {
        LimitCounters(
            watched_cgroups()
                .into_iter()
                .map(|dir| {
                    let counters = counters(&dir);
                    (dir, counters)
                })
                .filter(|(_, counters)| !counters.is_empty())
                .collect(),
        )
    }

    /// One sentence per cgroup whose limit counters grew since `self` was read, naming the
    /// limit, the files that say so and by how much; None when no counter moved.
    pub fn limits_hit_since(&self) -> Option<String> {
        let now = LimitCounters::read();
        let mut hits = Vec::new();
        for (dir, before) in &self.0 {
            let Some((_, after)) = now.0.iter().find(|(d, _)| d == dir) else {
                continue;
            };
            let grown: Vec<String> = after
                .iter()
                .filter_map(|(name, value)| {
                    let old = before.iter().find(|(n, _)| n == name)?.1;
                    (*value > old).then(|| format!("{name} +{}", value - old))
                })
                .collect();
            if grown.is_empty() {
                continue;
            }
            let controller = if grown.iter().any(|g| g.starts_with("pids")) {
                "pids"
            } else {
                "memory"
            };
            let context = match controller {
                "pids" => quoted(dir, &PIDS_CONTEXT),
                _ => quoted(dir, &MEMORY_CONTEXT),
            };
            hits.push(format!(
                "the {controller} limit of cgroup {} was hit: {}{context}",
                dir.display(),
                grown.join(", ")
            ));
        }
        (!hits.is_empty()).then(|| hits.join("; "))
    }
}

/// The limit files of `dir` that exist, as ` (file value, file value)`.
fn quoted(dir: &Path, files: &[&str]) -> String {
    let values: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let text = std::fs::read_to_string(dir.join(file)).ok()?;
            Some(format!("{file} {}", text.trim()))
        })
        .collect();
    if values.is_empty() {
        String::new()
    } else {
        format!(" ({})", values.join(", "))
    }
}

/// Every counter `dir` has.
fn counters(dir: &Path) -> Vec<Counter> {
    MEMORY_COUNTERS
        .iter()
        .chain(&PIDS_COUNTERS)
        .filter_map(|&(file, key)| {
            let text = std::fs::read_to_string(dir.join(file)).ok()?;
            let value = match key {
                None => text.trim().parse().ok()?,
                Some(key) => text.lines().find_map(|line| {
                    let (name, value) = line.split_once(' ')?;
                    (name == key).then(|| value.trim().parse().ok())?
                })?,
            };
            let name = key.map_or_else(|| file.to_string(), |key| format!("{file} {key}"));
            Some((name, value))
        })
        .collect()
}

/// isobench's own cgroups (v1 memory and pids, v2) and the instance cgroups' parents, each
/// with every ancestor up to its hierarchy's root.
fn watched_cgroups() -> Vec<PathBuf> {
    let layout = CgroupLayout::detect();
    let self_cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mut leaves: Vec<(PathBuf, PathBuf)> = Vec::new();
    let mut own_in = |root: PathBuf, matches: &dyn Fn(&str, &str) -> bool| {
        if let Some(path) = own_cgroup_path(&self_cgroup, matches) {
            leaves.push((root.join(path), root));
        }
    };
    let v2_root = match &layout {
        CgroupLayout::Unified { root } => Some(root.clone()),
        CgroupLayout::Hybrid { unified, .. } => Some(unified.clone()),
        _ => None,
    };
    if let Some(root) = &v2_root {
        own_in(root.clone(), &|id, controllers| {
            id == "0" && controllers.is_empty()
        });
    }
    if let CgroupLayout::Legacy { root } | CgroupLayout::Hybrid { root, .. } = &layout {
        for controller in ["memory", "pids"] {
            own_in(root.join(controller), &|_, controllers| {
                controllers.split(',').any(|c| c == controller)
            });
        }
    }
    for parent in CgroupPlan::detect(&layout).parents() {
        if let Some((_, root)) = leaves.iter().find(|(_, root)| parent.starts_with(root)) {
            let root = root.clone();
            leaves.push((parent, root));
        }
    }
    let mut dirs = BTreeSet::new();
    for (leaf, root) in leaves {
        let mut dir = leaf.as_path();
        while dir.starts_with(&root) {
            dirs.insert(dir.to_path_buf());
            match dir.parent() {
                Some(parent) => dir = parent,
                None => break,
            }
        }
    }
    dirs.into_iter().collect()
}
