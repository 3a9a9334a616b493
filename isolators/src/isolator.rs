//! The isolator contract: what every backend implements and what the runner relies on —
//! describe, prepare into a [`Launcher`], launch [`Instance`]s, release, wait until gone.
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::host::Host;
use crate::resources::Resources;
use crate::Error;
pub use isobench_protocol::{DiskFootprint, GuestKind, KernelKind, Kind, MemoryUsage, Workload};

/// How an isolator describes itself in tables and records.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// Which guest it boots: none unless it is a VM.
    fn guest(&self) -> GuestKind {
        GuestKind::None
    }
    /// Whether it is a VM without hardware virtualization (every instruction emulated, as in
    /// QEMU's TCG): its timings say nothing about hardware-virtualized VMs.
    fn emulated(&self) -> bool {
        false
    }
    /// Whether each launch resumes a snapshot instead of booting (a warm start): such a row
    /// sits beside the cold ones but is no VM of a comparison tier, which compares boots.
    fn warm_start(&self) -> bool {
        false
    }
    fn describe(&self) -> Description;
    fn availability(&self, host: &Host) -> Availability;
    /// Untimed set-up (rootfs, bundle, guest image) in `scratch`, which the caller owns and
    /// removes after the launcher is dropped. Returns what launches instances, with the disk
    /// footprint of runtime and image. Callers use [`crate::Prepared`], which owns both.
    fn prepare(&self, workload: &Workload, scratch: &Path) -> Result<Box<dyn Launcher>, Error>;
}

/// A prepared isolator: launches instances of one workload, as many as asked.
///
/// Dropping it removes whatever `prepare` set up outside the scratch dir.
pub trait Launcher: Send {
    /// Runtime + image bytes this isolator needs on disk, measured while preparing.
    fn disk(&self) -> &DiskFootprint;
    /// Starts one instance. Implementations stamp `launched_ns` immediately before the first
    /// action that creates the instance, and return without waiting for ready.
    fn launch(&mut self) -> Result<Box<dyn Instance>, Error>;
}

impl std::fmt::Debug for dyn Launcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Launcher")
            .field("disk", self.disk())
            .finish_non_exhaustive()
    }
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
    /// After [`Instance::wait_gone`]: the CPU time (user + system) the instance's own accounting
    /// saw from launch to gone — its cgroup's, read just before the cgroup was removed, or the
    /// rusage of the processes it reaped. None where it has neither.
    fn cpu_ns(&self) -> Option<u64> {
        None
    }
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

impl Ready {
    /// For a Linux guest whose probe reported its guest clock at /init and at ready: adds the
    /// phases `kernel-start` (when the guest kernel's clock began: the kernel has decompressed
    /// and set up timekeeping) and `init` (when the probe started as /init), on the host's
    /// clock, in order among the others. The guest's clock is only compared with itself, so
    /// the two clocks need not agree.
    pub fn with_guest_boot_phases(mut self, launched_ns: u64) -> Ready {
        let read = |key: &str| self.report.get(key).and_then(|v| v.parse::<u64>().ok());
        let (Some(init), Some(ready)) = (
            read(isobench_protocol::INIT_BOOTTIME_KEY),
            read(isobench_protocol::READY_BOOTTIME_KEY),
        ) else {
            return self;
        };
        let ready_at = self.ready_ns.saturating_sub(launched_ns);
        let phases = [
            (
                isobench_protocol::KERNEL_START_PHASE,
                ready_at.saturating_sub(ready),
            ),
            (
                isobench_protocol::INIT_PHASE,
                ready_at.saturating_sub(ready.saturating_sub(init)),
            ),
        ];
        for (name, at) in phases {
            let position = self.phases.iter().position(|(_, other)| *other > at);
            let phase = (name.to_string(), at);
            match position {
                Some(index) => self.phases.insert(index, phase),
                None => self.phases.push(phase),
            }
        }
        self
    }
}

/// Parses `key=value` words from a probe ready line (`ISOBENCH-READY mode=noop work_ns=12`).
pub fn parse_ready_report(line: &str) -> BTreeMap<String, String> {
    isobench_protocol::ready_report_pairs(line)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Microseconds are too coarse for clone(); everything is in CLOCK_MONOTONIC nanoseconds.
pub fn monotonic_ns() -> u64 {
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .expect("CLOCK_MONOTONIC is always available on Linux");
    now.tv_sec() as u64 * 1_000_000_000 + now.tv_nsec() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_linux_guests_kernel_start_and_init_land_between_its_phases() {
        let ready = Ready {
            ready_ns: 1_000 + 900,
            phases: vec![("first-run".into(), 100), ("guest-ready".into(), 900)],
            report: parse_ready_report(
                "ISOBENCH-READY mode=noop init_boottime_ns=450 ready_boottime_ns=750",
            ),
        }
        .with_guest_boot_phases(1_000);
        let names: Vec<(&str, u64)> = ready
            .phases
            .iter()
            .map(|(n, at)| (n.as_str(), *at))
            .collect();
        assert_eq!(
            names,
            [
                ("first-run", 100),
                ("kernel-start", 150),
                ("init", 600),
                ("guest-ready", 900)
            ]
        );
        let plain = Ready {
            ready_ns: 5,
            ..Default::default()
        };
        assert_eq!(plain.clone().with_guest_boot_phases(1), plain);
    }
}
