//! cgroup layout detection (v2, v1, hybrid) and per-instance cgroups.
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub mod instance;
pub mod measuring;
pub mod memory_source;
pub mod plan;
pub mod spawn;

pub use instance::InstanceCgroup;
pub use measuring::MeasuringCgroups;
pub use memory_source::{CgroupMemory, CgroupMemorySource};
pub use plan::{CgroupPlan, Creator, PARENT_NAME};

/// The default cgroup root.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// How cgroups are mounted on the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum CgroupLayout {
    /// Pure cgroup v2 at the root (most current distributions).
    Unified { root: PathBuf },
    /// Only v1 hierarchies (one directory per controller).
    Legacy { root: PathBuf },
    /// v1 controllers plus a cgroup2 mount (usually at `<root>/unified`) with no controllers
    /// we rely on. Treated as v1 for resource control.
    Hybrid { root: PathBuf, unified: PathBuf },
    /// No cgroup filesystem we can use.
    Unsupported { reason: String },
}

impl CgroupLayout {
    pub fn detect() -> CgroupLayout {
        Self::detect_at(Path::new(CGROUP_ROOT))
    }

    /// Detects the layout from the files under `root`: a cgroup2 directory has
    /// `cgroup.controllers`; a v1 hierarchy has `cgroup.procs` but no `cgroup.controllers`.
    pub fn detect_at(root: &Path) -> CgroupLayout {
        let is_v2 = |dir: &Path| dir.join("cgroup.controllers").is_file();
        let is_v1 = |dir: &Path| dir.join("cgroup.procs").is_file() && !is_v2(dir);
        if is_v2(root) {
            return CgroupLayout::Unified {
                root: root.to_path_buf(),
            };
        }
        let has_v1_memory = is_v1(&root.join("memory"));
        let unified = root.join("unified");
        match (has_v1_memory, is_v2(&unified)) {
            (true, true) => CgroupLayout::Hybrid { root: root.to_path_buf(), unified },
            (true, false) => CgroupLayout::Legacy { root: root.to_path_buf() },
            (false, _) => CgroupLayout::Unsupported {
                reason: format!(
                    "{}: neither a cgroup2 mount nor a v1 memory hierarchy — mount cgroup2 on {} (or the v1 memory controller)",
                    root.display(),
                    root.display()
                ),
            },
        }
    }

    pub fn short_name(&self) -> &'static str {
        match self {
            CgroupLayout::Unified { .. } => "v2",
            CgroupLayout::Legacy { .. } => "v1",
            CgroupLayout::Hybrid { .. } => "hybrid",
            CgroupLayout::Unsupported { .. } => "unsupported",
        }
    }
}

impl fmt::Display for CgroupLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CgroupLayout::Unified { root } => write!(f, "v2 ({})", root.display()),
            CgroupLayout::Legacy { root } => write!(f, "v1 ({})", root.display()),
            CgroupLayout::Hybrid { root, unified } => {
                write!(
                    f,
                    "hybrid (v1 at {}, cgroup2 at {})",
                    root.display(),
                    unified.display()
                )
            }
            CgroupLayout::Unsupported { reason } => write!(f, "unsupported: {reason}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for file in files {
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        dir
    }

    #[test]
    fn detects_unified() {
        let dir = fixture(&["cgroup.controllers", "cgroup.procs", "memory.stat"]);
        assert_eq!(CgroupLayout::detect_at(dir.path()).short_name(), "v2");
    }

    #[test]
    fn detects_hybrid() {
        let dir = fixture(&[
            "memory/cgroup.procs",
            "memory/memory.stat",
            "unified/cgroup.controllers",
            "unified/cgroup.procs",
        ]);
        assert_eq!(CgroupLayout::detect_at(dir.path()).short_name(), "hybrid");
    }

    #[test]
    fn detects_legacy() {
        let dir = fixture(&[
            "memory/cgroup.procs",
            "pids/cgroup.procs",
            "systemd/cgroup.procs",
        ]);
        assert_eq!(CgroupLayout::detect_at(dir.path()).short_name(), "v1");
    }

    #[test]
    fn empty_root_is_unsupported_with_advice() {
        let dir = fixture(&[]);
        let layout = CgroupLayout::detect_at(dir.path());
        assert!(layout.to_string().contains("mount cgroup2"), "{layout}");
    }
}
