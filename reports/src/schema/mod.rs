//! The result schema, version [`SCHEMA_VERSION`]: raw samples, summaries, host fingerprint.
//!
//! Units are in field names (`_ns`, `_bytes`). Every field a later version adds must be
//! optional (`#[serde(default)]`) so older files still load; a breaking change bumps the version.
mod burst;
mod host_cost;
mod load;
mod probe_report;
mod samples_log;
mod streamed;
mod user_workload;
mod vocabulary;

use std::collections::BTreeMap;

pub use isobench_protocol::{
    DiskFootprint, GuestKind, KernelKind, Kind, MemoryUsage, Mode, Workload,
};
use serde::{Deserialize, Serialize};

pub use burst::{
    Arrivals, BurstLoad, BurstPoint, BurstSample, HostSettle, LatencySummary, QuantileEstimate,
    SUSTAINED_MIN_LAUNCHES, SUSTAINED_TAIL_FACTOR,
};
pub use host_cost::{HostCost, HostCostSample};
pub use load::{results_file, LoadError, MAX_RESULTS_BYTES};
pub use probe_report::ProbeReport;
pub use samples_log::LogLine;
pub use streamed::Streamed;
pub use user_workload::UserWorkloadRecord;
pub use vocabulary::{CgroupMode, Flag, KvmProvider, Order, Status, WarningCode};

/// Bumped on any change an older reader would misread.
pub const SCHEMA_VERSION: u32 = 1;

/// One `isobench run`: configuration, host, and every isolator's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub schema_version: u32,
    pub isobench_version: String,
    /// `git describe`-style revision of the isobench build, or "unknown".
    pub git_revision: String,
    /// RFC 3339 UTC time the run started.
    pub started_at: String,
    /// RFC 3339 UTC time of the last write; equals started_at until the first benchmark ends.
    pub updated_at: String,
    /// False while the run is in progress or if it was interrupted.
    pub complete: bool,
    pub config: RunConfig,
    pub host: HostFingerprint,
    pub isolators: Vec<IsolatorRecord>,
    /// Run-wide validity warnings (noisy host, software KVM, too few runs …).
    #[serde(default)]
    pub warnings: Vec<Warning>,
    /// `isobench density`: how many instances fit, and what each costs when many are held.
    #[serde(default)]
    pub density: Vec<DensityPoint>,
    /// Set in the checkpoints of a run in progress (or killed): the samples and failures are
    /// not inline but in this JSON Lines file beside it ([`LogLine`]); loading merges them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples_file: Option<String>,
    /// `isobench burst`: launch latency under a concurrency or an arrival rate. Absent from
    /// records without bursts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub burst: Vec<BurstPoint>,
}

/// N instances of one isolator held at once.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DensityPoint {
    pub isolator: String,
    /// Instances asked for.
    pub requested: u32,
    /// Instances that became ready (less than requested when the host ran out of something).
    pub reached: u32,
    /// Launcher threads.
    pub parallel: u32,
    /// From the first launch until the last instance was ready.
    pub all_ready_ns: u64,
    /// reached / all_ready time.
    pub launches_per_second: f64,
    /// Sum over instances of PSS + cgroup kernel memory.
    pub total_footprint_bytes: u64,
    pub per_instance_footprint_bytes: u64,
    /// Cross-check: MemAvailable before launching minus MemAvailable while all are held.
    pub mem_available_drop_bytes: i64,
    pub per_instance_mem_available_drop_bytes: i64,
    /// From releasing all to all gone.
    pub teardown_ns: u64,
    /// Why it stopped short of `requested`, if it did.
    pub stopped_because: Option<String>,
    /// Anything found still present after teardown (should be empty).
    #[serde(default)]
    pub leftovers: Vec<String>,
    /// What the whole host paid for this point (meminfo growth, system-wide CPU), beside the
    /// instances' attributed memory. None in records written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostCostSample>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    pub runs: u32,
    pub warmup: u32,
    pub workload: Workload,
    pub timeout_ms: u64,
    pub order: Order,
    /// The isolators asked for, in order.
    pub isolators: Vec<String>,
    /// The user's rootfs and command, when the run timed one (`--rootfs`, `--cmd`, `--ready`);
    /// None for the probe alone and in records written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_workload: Option<UserWorkloadRecord>,
}

/// The machine the numbers came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostFingerprint {
    pub hostname: String,
    pub kernel: String,
    pub os: String,
    pub cpu_model: String,
    pub cores: u32,
    pub memory_total_bytes: u64,
    pub cgroup_mode: CgroupMode,
    pub cgroup_detail: String,
    pub kvm_provider: KvmProvider,
    pub kvm_detail: String,
    pub is_root: bool,
    /// Tool name → version string, for every engine looked at.
    pub tool_versions: BTreeMap<String, String>,
    /// 1-minute load average when the run started and ended. Shown, not judged: it lags by a
    /// minute (a build that just ended still counts) and at the end it is the run's own load
    /// (host-cost batches hold up to 50 instances at once).
    pub loadavg_start: f64,
    pub loadavg_end: f64,
    /// Tasks besides isobench runnable on the host, on average, sampled from /proc/loadavg
    /// before each trial (`run`) or over the moment before the first launch (`burst`): the
    /// other work that competed for the CPUs. None in density records and older records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_runnable_mean: Option<f64>,
}

/// Results for one isolator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IsolatorRecord {
    pub name: String,
    pub kind: Kind,
    pub kernel: KernelKind,
    /// Which guest it ran: none (not a VM), bare (isobench's PVH code, no OS) or linux. None
    /// in records written before the field existed (then absent from the JSON, which writes
    /// back unchanged); read it with [`IsolatorRecord::guest`], which infers it for those.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest: Option<GuestKind>,
    /// Whether no hardware virtualization ran it: every guest instruction emulated (QEMU's TCG).
    /// In JSON only when true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub emulated: bool,
    /// Whether each launch resumed a snapshot instead of booting (`microvm-restore`,
    /// `firecracker-restore`): shown beside the cold rows, left out of the comparison tiers,
    /// which compare boots. In JSON only when true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub warm_start: bool,
    /// What isolates the workload.
    pub boundary: String,
    pub version: String,
    #[serde(default)]
    pub notes: Vec<String>,
    /// Available, unavailable (why, and what to do) or failed to prepare; in JSON the nullable
    /// `unavailable_reason` string.
    #[serde(
        rename = "unavailable_reason",
        with = "vocabulary::unavailable_reason",
        default
    )]
    pub status: Status,
    pub disk: Option<DiskFootprint>,
    /// Measured trials, in run order (warm-ups excluded).
    pub samples: Vec<Sample>,
    /// Trials that failed, with the message.
    #[serde(default)]
    pub failures: Vec<Failure>,
    pub summary: Option<IsolatorSummary>,
    /// Why this isolator's numbers may not mean what they say (e.g. software KVM).
    #[serde(default)]
    pub flags: Vec<Flag>,
    /// What the whole host paid per instance, from batches held at once (`--host-batch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_cost: Option<HostCost>,
}

/// One trial: one instance from launch to gone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Trial number within this isolator (0-based, warm-ups excluded).
    pub trial: u32,
    /// Position in the whole run's interleaved order.
    pub sequence: u32,
    pub startup_ns: u64,
    /// Named phases within startup, as (name, ns since launch) in order.
    #[serde(default)]
    pub phases: Vec<Phase>,
    pub memory: MemorySample,
    /// Footprint minus the process baseline's median footprint in the same run.
    pub memory_overhead_bytes: Option<i64>,
    pub teardown_ns: u64,
    /// CPU time (user + system) this trial's own accounting saw from launch to gone: the
    /// instance's cgroup where it has one, else the reaped processes' rusage. Daemons outside
    /// the instance are not in it; the host cost's `launch_cpu_ns` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_ns: Option<u64>,
    /// Whatever the probe reported on its ready line (e.g. work_ns).
    #[serde(default)]
    pub probe_report: ProbeReport,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phase {
    pub name: String,
    pub at_ns: u64,
}

/// One memory sample as stored: the isolator's [`MemoryUsage`] fields, then its footprint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemorySample {
    #[serde(flatten)]
    pub usage: MemoryUsage,
    /// pss_bytes + cgroup_kernel_bytes: what the instance costs the host.
    pub footprint_bytes: u64,
}

impl From<MemoryUsage> for MemorySample {
    fn from(usage: MemoryUsage) -> MemorySample {
        MemorySample {
            footprint_bytes: usage.footprint_bytes(),
            usage,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub trial: u32,
    pub sequence: u32,
    pub message: String,
}

/// Summaries of every metric, computed from `samples`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IsolatorSummary {
    pub startup_ns: Summary,
    pub teardown_ns: Summary,
    pub footprint_bytes: Summary,
    pub memory_overhead_bytes: Option<Summary>,
    pub vmm_overhead_bytes: Option<Summary>,
    /// Attributed CPU per trial (see [`Sample::cpu_ns`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_ns: Option<Summary>,
    /// Median per phase name, ns since launch.
    #[serde(default)]
    pub phase_medians_ns: BTreeMap<String, f64>,
}

/// Descriptive statistics of one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub n: u32,
    pub min: f64,
    pub median: f64,
    pub mean: f64,
    pub stddev: f64,
    pub p95: f64,
    pub max: f64,
    /// 95% confidence interval of the median (order statistics, binomial).
    pub median_ci_low: f64,
    pub median_ci_high: f64,
    /// Samples whose robust z-score (median/MAD) exceeds 3.5, by index into samples.
    pub outliers: Vec<u32>,
    /// stddev / mean.
    pub coefficient_of_variation: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// Machine-readable: `software-kvm`, `noisy-host`, `too-few-runs`, `engine-workaround`, …
    pub code: WarningCode,
    /// The isolator it concerns, or None for the whole run.
    pub isolator: Option<String>,
    pub message: String,
}

impl IsolatorRecord {
    /// Which guest it ran: the recorded `guest`, else (a record written before the field
    /// existed) inferred here and nowhere else, from the boundary text: a microvm row whose
    /// boundary says "bare" ran the bare guest (every bare-guest wording so far: "bare PVH code,
    /// no OS", earlier "(bare PVH guest)"), any other microvm row a Linux kernel
    /// (`microvm-linux`: "own guest kernel"), every other kind none.
    pub fn guest(&self) -> GuestKind {
        match (self.guest, self.kind) {
            (Some(guest), _) => guest,
            (None, Kind::Microvm) if self.boundary.contains("bare") => GuestKind::Bare,
            (None, Kind::Microvm) => GuestKind::Linux,
            (None, _) => GuestKind::None,
        }
    }

    /// How many samples it measured: its summary's count, which a renderer's bounded subset
    /// of `samples` (see [`crate::samples`]) may fall short of.
    pub fn sample_count(&self) -> usize {
        let summarized = self.summary.as_ref().map_or(0, |s| s.startup_ns.n as usize);
        summarized.max(self.samples.len())
    }

    /// The median launch → ready, when it has a summary.
    pub fn startup_median_ns(&self) -> Option<f64> {
        Some(self.summary.as_ref()?.startup_ns.median)
    }
}

impl RunRecord {
    pub fn isolator(&self, name: &str) -> Option<&IsolatorRecord> {
        self.isolators.iter().find(|i| i.name == name)
    }

    /// Whether any isolator has startup trials (a density-only record has none).
    pub fn has_trials(&self) -> bool {
        self.isolators.iter().any(|i| !i.samples.is_empty())
    }
}
