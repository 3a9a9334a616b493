//! The result schema, version [`SCHEMA_VERSION`]: raw samples, summaries, host fingerprint.
//!
//! Units are in field names (`_ns`, `_bytes`). Every field a later version adds must be
//! optional (`#[serde(default)]`) so older files still load; a breaking change bumps the version.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    pub runs: u32,
    pub warmup: u32,
    pub workload: String,
    pub timeout_ms: u64,
    /// "interleaved" (A B C A B C …) or "sequential".
    pub order: String,
    /// The isolators asked for, in order.
    pub isolators: Vec<String>,
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
    /// "v2", "v1", "hybrid" or "unsupported", with detail.
    pub cgroup_mode: String,
    pub cgroup_detail: String,
    /// "hardware", "nested", "software", "unknown" or "absent".
    pub kvm_provider: String,
    pub kvm_detail: String,
    pub is_root: bool,
    /// Tool name → version string, for every engine looked at.
    pub tool_versions: BTreeMap<String, String>,
    /// 1-minute load average when the run started and ended.
    pub loadavg_start: f64,
    pub loadavg_end: f64,
}

/// Results for one isolator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IsolatorRecord {
    pub name: String,
    /// "process", "container", "sandbox" or "microvm".
    pub kind: String,
    /// "shared", "userspace" or "own".
    pub kernel: String,
    /// What isolates the workload.
    pub boundary: String,
    pub version: String,
    #[serde(default)]
    pub notes: Vec<String>,
    /// None when available; otherwise why not and what to do.
    pub unavailable_reason: Option<String>,
    pub disk: Option<DiskRecord>,
    /// Measured trials, in run order (warm-ups excluded).
    pub samples: Vec<Sample>,
    /// Trials that failed, with the message.
    #[serde(default)]
    pub failures: Vec<Failure>,
    pub summary: Option<IsolatorSummary>,
    /// Why this isolator's numbers may not mean what they say (e.g. "software KVM").
    #[serde(default)]
    pub flags: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiskRecord {
    pub runtime_apparent_bytes: u64,
    pub runtime_allocated_bytes: u64,
    pub image_apparent_bytes: u64,
    pub image_allocated_bytes: u64,
    #[serde(default)]
    pub runtime_files: Vec<String>,
    #[serde(default)]
    pub image_files: Vec<String>,
}

impl DiskRecord {
    pub fn total_apparent_bytes(&self) -> u64 {
        self.runtime_apparent_bytes + self.image_apparent_bytes
    }
    pub fn total_allocated_bytes(&self) -> u64 {
        self.runtime_allocated_bytes + self.image_allocated_bytes
    }
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
    /// Whatever the probe reported on its ready line (e.g. work_ns).
    #[serde(default)]
    pub probe_report: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phase {
    pub name: String,
    pub at_ns: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemorySample {
    pub pss_bytes: u64,
    pub rss_bytes: u64,
    pub processes: u32,
    pub cgroup_bytes: Option<u64>,
    pub cgroup_kernel_bytes: Option<u64>,
    pub guest_ram_resident_bytes: Option<u64>,
    pub vmm_overhead_bytes: Option<u64>,
    /// pss_bytes + cgroup_kernel_bytes: what the instance costs the host.
    pub footprint_bytes: u64,
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
    /// Machine-readable: "software-kvm", "noisy-host", "too-few-runs", "engine-workaround", …
    pub code: String,
    /// The isolator it concerns, or None for the whole run.
    pub isolator: Option<String>,
    pub message: String,
}

/// Why a results file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Not JSON, or not shaped like a run record.
    #[error("{path}: not an isobench results file: {detail}")]
    Malformed { path: String, detail: String },
    /// Written by a different schema version.
    #[error("{path}: results schema version {found}, this isobench reads version {expected} — re-run, or use the isobench that wrote it")]
    WrongVersion {
        path: String,
        found: u64,
        expected: u32,
    },
    #[error(
        "{path}: {source} — pass a run.json or density.json written by isobench, or its directory"
    )]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl RunRecord {
    /// Parses a results file, checking the schema version before the shape.
    pub fn from_json(path: &str, text: &str) -> Result<RunRecord, LoadError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| LoadError::Malformed {
                path: path.into(),
                detail: e.to_string(),
            })?;
        let found = value
            .get("schema_version")
            .and_then(|v| v.as_u64())
            .ok_or_else(|| LoadError::Malformed {
                path: path.into(),
                detail: "no schema_version field".into(),
            })?;
        if found != SCHEMA_VERSION as u64 {
            return Err(LoadError::WrongVersion {
                path: path.into(),
                found,
                expected: SCHEMA_VERSION,
            });
        }
        serde_json::from_value(value).map_err(|e| LoadError::Malformed {
            path: path.into(),
            detail: e.to_string(),
        })
    }

    /// Loads a results file, or a results directory: its `run.json`, else its `density.json`.
    pub fn load(path: &std::path::Path) -> Result<RunRecord, LoadError> {
        let path = if path.is_dir() && !path.join("run.json").exists() {
            path.join("density.json")
        } else if path.is_dir() {
            path.join("run.json")
        } else {
            path.to_path_buf()
        };
        let name = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|e| LoadError::Io {
            path: name.clone(),
            source: e,
        })?;
        Self::from_json(&name, &text)
    }

    pub fn isolator(&self, name: &str) -> Option<&IsolatorRecord> {
        self.isolators.iter().find(|i| i.name == name)
    }

    /// Whether any isolator has startup trials (a density-only record has none).
    pub fn has_trials(&self) -> bool {
        self.isolators.iter().any(|i| !i.samples.is_empty())
    }
}
