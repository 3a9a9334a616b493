//! What an instance owns on the host: its processes, its cgroup, its guest RAM and its paths —
//! what memory is measured over and what must be gone after teardown.
use std::path::PathBuf;

use crate::cgroup::CgroupMemorySource;

/// Host-side resources owned by an instance, for memory measurement and leak checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    /// Every host process of the instance (engine, shim, VMM, probe), by pid.
    pub pids: Vec<i32>,
    /// The instance's cgroup directories (one per v1 hierarchy, or one v2 directory).
    pub cgroup: Option<CgroupMemorySource>,
    /// The measuring cgroup isobench started the engine's own process in, when that is not the
    /// instance's cgroup (an OCI runtime's `run`, an engine CLI): what the engine allocated for
    /// the instance before the instance's cgroup existed, namespaces included, is charged there.
    pub launcher_cgroup: Option<CgroupMemorySource>,
    /// Guest RAM, as host virtual address ranges inside a VMM process.
    pub guest_ram: Vec<GuestRam>,
    /// Paths that must vanish at teardown (temp dirs, state dirs).
    pub paths: Vec<PathBuf>,
}

/// One range of guest RAM mapped in a VMM process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestRam {
    /// The VMM process that maps it.
    pub pid: i32,
    /// Host virtual address of the range's start.
    pub start: u64,
    pub len: u64,
}
