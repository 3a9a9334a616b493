//! The isolator contract: what every backend implements and what the runner relies on.
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::disk::DiskFootprint;
use crate::host::Host;
use crate::memory::MemoryUsage;
use crate::probe::Workload;
use crate::Error;

/// The class of an isolator, which decides the group it lands in on the comparison table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// No isolation: the baseline.
    Process,
    /// Shared host kernel plus namespaces and cgroups.
    Container,
    /// A user-space kernel between workload and host (gVisor).
    Sandbox,
    /// Own guest kernel under hardware virtualization.
    Microvm,
}

/// Whose kernel runs the workload's system calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KernelKind {
    Shared,
    Userspace,
    Own,
}

/// How an isolator describes itself in tables and records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Description {
    /// What isolates the workload, e.g. "shared kernel + 6 namespaces + cgroup".
    pub boundary: String,
    pub kernel: KernelKind,
    /// The engine's version, e.g. "runc 1.1.5"; "isobench 0.1.0" for built-ins.
    pub version: String,
    /// Deviations from a stock setup that readers must know (e.g. "cgroup2 mount hidden").
    pub notes: Vec<String>,
}

/// Whether an isolator can run on this host, and if not, what the user can do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    Available,
    Unavailable { reason: String },
}

impl Availability {
    pub fn unavailable(reason: impl Into<String>) -> Self {
        Availability::Unavailable {
            reason: reason.into(),
        }
    }
    pub fn is_available(&self) -> bool {
        matches!(self, Availability::Available)
    }
}

/// A backend that runs the probe in some kind of isolation.
pub trait Isolator: Send {
    /// Short CLI name, e.g. "container".
    fn name(&self) -> &str;
    fn kind(&self) -> Kind;
    fn describe(&self) -> Description;
    fn availability(&self, host: &Host) -> Availability;
    /// Untimed set-up (rootfs, bundle, guest image) in `scratch`, which the runner owns and
    /// removes. Returns the disk footprint of runtime and image.
    fn prepare(
        &mut self,
        workload: &Workload,
        scratch: &std::path::Path,
    ) -> Result<DiskFootprint, Error>;
    /// Starts one instance. Implementations stamp `launched_ns` immediately before the first
    /// action that creates the instance, and return without waiting for ready.
    fn launch(&mut self) -> Result<Box<dyn Instance>, Error>;
}

/// One running instance of the probe.
///
/// Dropping an instance kills whatever is still running and removes its resources.
pub trait Instance: Send {
    /// CLOCK_MONOTONIC nanoseconds taken just before the instance was created.
    fn launched_ns(&self) -> u64;
    /// Blocks until the probe signals ready or `timeout` passes.
    fn wait_ready(&mut self, timeout: Duration) -> Result<Ready, Error>;
    /// What belongs to the instance on the host (valid after ready).
    fn resources(&self) -> Resources;
    /// Memory sampled now, while the probe holds. The default sums PSS over `resources()`.
    fn memory(&self) -> Result<MemoryUsage, Error> {
        crate::memory::measure(&self.resources())
    }
    /// Lets the probe exit.
    fn release(&mut self) -> Result<(), Error>;
    /// Blocks until every process is reaped and every resource is gone.
    fn wait_gone(&mut self, timeout: Duration) -> Result<(), Error>;
}

/// The ready signal as observed by the isolator.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ready {
    /// CLOCK_MONOTONIC nanoseconds at which ready was observed (or stamped by the VMM).
    pub ready_ns: u64,
    /// Phase boundaries inside launch → ready, as durations from `launched_ns`, in order.
    pub phases: Vec<(String, u64)>,
    /// `key=value` pairs the probe reported on its ready line (e.g. `work_ns`).
    pub report: BTreeMap<String, String>,
}

/// Host-side resources owned by an instance, for memory measurement and leak checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    /// Every host process of the instance (engine, shim, VMM, probe), by pid.
    pub pids: Vec<i32>,
    /// The instance's cgroup directories (one per v1 hierarchy, or one v2 directory).
    pub cgroup: Option<crate::memory::CgroupMemorySource>,
    /// Guest RAM, as host virtual address ranges inside a VMM process: (pid, start, len).
    pub guest_ram: Vec<(i32, u64, u64)>,
    /// Paths that must vanish at teardown (temp dirs, state dirs).
    pub paths: Vec<PathBuf>,
}

/// Parses `key=value` words from a probe ready line (`ISOBENCH-READY mode=noop work_ns=12`).
pub fn parse_ready_report(line: &str) -> BTreeMap<String, String> {
    line.split_whitespace()
        .filter_map(|word| word.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Microseconds are too coarse for clone(); everything is in CLOCK_MONOTONIC nanoseconds.
pub fn monotonic_ns() -> u64 {
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .expect("CLOCK_MONOTONIC is always available on Linux");
    now.tv_sec() as u64 * 1_000_000_000 + now.tv_nsec() as u64
}
