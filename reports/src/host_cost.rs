//! What one instance of each isolator cost the whole host, as the host-cost chart and tables
//! show it: the system-wide `used` growth per instance, split into user-space PSS, attributed
//! kernel memory and the remainder nobody's own accounting claimed. From a run's batches (the
//! record's `host_cost` medians) or, in a density record, from the largest count held.
use crate::charts::median;
use crate::schema::{DensityPoint, HostCost, HostCostSample, IsolatorRecord, RunRecord};
use crate::table;

/// Where a row's figures come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// `isobench run`: medians over the undisturbed batches of `batch` instances held at once.
    Batches {
        batch: u32,
        batches: usize,
        /// Why each disturbed batch was left out of the medians.
        disturbed: Vec<String>,
    },
    /// `isobench density`: the point with the most instances held, `instances` at once.
    Density {
        instances: u32,
        /// Why this point's memory figures cannot be trusted, if so.
        disturbed: Option<String>,
    },
}

impl Origin {
    /// `batches of 10 (3, 1 disturbed)`, `density: 256 held at once`.
    pub fn describe(&self) -> String {
        match self {
            Origin::Batches {
                batch,
                batches,
                disturbed,
            } => {
                let disturbed = match disturbed.len() {
                    0 => String::new(),
                    n => format!(", {n} disturbed"),
                };
                format!("batches of {batch} ({batches}{disturbed})")
            }
            Origin::Density {
                instances,
                disturbed,
            } => {
                let disturbed = if disturbed.is_some() {
                    ", disturbed"
                } else {
                    ""
                };
                format!("density: {instances} held at once{disturbed}")
            }
        }
    }

    /// The reasons given for disturbed batches or the disturbed point, without repeats.
    pub fn disturbed_reasons(&self) -> Vec<String> {
        let all: Vec<String> = match self {
            Origin::Batches { disturbed, .. } => disturbed.clone(),
            Origin::Density { disturbed, .. } => disturbed.iter().cloned().collect(),
        };
        let mut out: Vec<String> = Vec::new();
        for reason in all {
            if !out.contains(&reason) {
                out.push(reason);
            }
        }
        out
    }
}

/// One isolator's host cost per instance; None where the record has no such figure.
#[derive(Debug, Clone, PartialEq)]
pub struct HostRow {
    pub isolator: String,
    /// The name as charts label it (starred when flagged).
    pub label: String,
    pub origin: Origin,
    /// System-wide growth of memory in use (per-CPU free lists counted free).
    pub used_bytes: Option<f64>,
    /// The instances' own accounting: user-space PSS, and kernel memory (cgroup or estimate).
    pub user_bytes: Option<f64>,
    pub kernel_bytes: Option<f64>,
    pub mem_available_drop_bytes: Option<f64>,
    /// System-wide CPU for one launch → ready → teardown.
    pub cpu_ns: Option<f64>,
    /// `used_bytes` minus the process baseline's (runs only).
    pub overhead_bytes: Option<f64>,
    /// (max − min) / median of the batches' `used` (runs only).
    pub spread: Option<f64>,
}

impl HostRow {
    /// used − user − kernel, clamped at 0 (see [`HostRow::over_attributed_bytes`]).
    pub fn unattributed_bytes(&self) -> Option<f64> {
        Some((self.used_bytes? - self.user_bytes? - self.kernel_bytes?).max(0.0))
    }

    /// How far the attributed memory exceeds the system-wide growth, when it does.
    pub fn over_attributed_bytes(&self) -> Option<f64> {
        let over = self.user_bytes? + self.kernel_bytes? - self.used_bytes?;
        (over > 0.0).then_some(over)
    }

    /// Whether there is a full split to draw.
    pub fn has_split(&self) -> bool {
        self.unattributed_bytes().is_some()
    }
}

/// One row per isolator with host-cost data: every available isolator of the run with a
/// `host_cost`, then every density isolator not already listed, from its largest point with
/// host figures.
pub fn rows(record: &RunRecord) -> Vec<HostRow> {
    let mut rows: Vec<HostRow> = record
        .isolators
        .iter()
        .filter(|i| i.status.is_available())
        .filter_map(|i| Some(run_row(i, i.host_cost.as_ref()?)))
        .collect();
    for point in &record.density {
        if rows.iter().any(|r| r.isolator == point.isolator) {
            continue;
        }
        if let Some(largest) = largest_point(record, &point.isolator) {
            let label = record
                .isolator(&point.isolator)
                .map_or_else(|| point.isolator.clone(), table::marked_name);
            rows.push(density_row(largest, label));
        }
    }
    rows
}

/// The batch sizes of these isolators' host costs, `10` or `5–10`; None when none has one.
pub fn batch_sizes<'a>(isolators: impl IntoIterator<Item = &'a IsolatorRecord>) -> Option<String> {
    let sizes: Vec<u32> = isolators
        .into_iter()
        .filter_map(|i| Some(i.host_cost.as_ref()?.batch))
        .collect();
    let (low, high) = (sizes.iter().min()?, sizes.iter().max()?);
    Some(if low == high {
        low.to_string()
    } else {
        format!("{low}–{high}")
    })
}

fn run_row(isolator: &IsolatorRecord, host: &HostCost) -> HostRow {
    let kept: Vec<&HostCostSample> = host
        .samples
        .iter()
        .filter(|s| s.disturbed.is_none() && s.instances > 0)
        .collect();
    let per_instance = |bytes: fn(&HostCostSample) -> u64| {
        let values: Vec<f64> = kept
            .iter()
            .map(|s| bytes(s) as f64 / f64::from(s.instances))
            .collect();
        median(&values)
    };
    HostRow {
        isolator: isolator.name.clone(),
        label: table::marked_name(isolator),
        origin: Origin::Batches {
            batch: host.batch,
            batches: host.samples.len(),
            disturbed: host
                .samples
                .iter()
                .filter_map(|s| s.disturbed.clone())
                .collect(),
        },
        used_bytes: host.per_instance_used_bytes,
        user_bytes: per_instance(|s| s.attributed_user_bytes),
        kernel_bytes: host
            .per_instance_attributed_kernel_bytes
            .or_else(|| per_instance(|s| s.attributed_kernel_bytes)),
        mem_available_drop_bytes: host.per_instance_mem_available_drop_bytes,
        cpu_ns: host.launch_cpu_ns,
        overhead_bytes: host.overhead_bytes,
        spread: host.spread,
    }
}

/// The isolator's density point with host figures and the most instances held (the later on a tie).
fn largest_point<'a>(record: &'a RunRecord, isolator: &str) -> Option<&'a DensityPoint> {
    record
        .density
        .iter()
        .filter(|p| p.isolator == isolator)
        .filter(|p| p.host.as_ref().is_some_and(|h| h.instances > 0))
        .max_by_key(|p| p.host.as_ref().map_or(0, |h| h.instances))
}

fn density_row(point: &DensityPoint, label: String) -> HostRow {
    let host = point.host.as_ref().expect("largest_point has host figures");
    let per_instance = |bytes: u64| bytes as f64 / f64::from(host.instances);
    HostRow {
        isolator: point.isolator.clone(),
        label,
        origin: Origin::Density {
            instances: host.instances,
            disturbed: host.disturbed.clone(),
        },
        used_bytes: host.per_instance_used_bytes(),
        user_bytes: Some(per_instance(host.attributed_user_bytes)),
        kernel_bytes: Some(per_instance(host.attributed_kernel_bytes)),
        mem_available_drop_bytes: Some(
            host.mem_available_drop_bytes as f64 / f64::from(host.instances),
        ),
        cpu_ns: host.per_instance_cpu_ns(),
        overhead_bytes: None,
        spread: None,
    }
}
