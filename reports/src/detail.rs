//! The detail tables both the Markdown and the HTML report show, as plain text cells: per
//! isolator statistics, density points and the host cost per instance. Each renderer escapes
//! the cells its own way.
use crate::host_cost::{self, HostRow};
use crate::schema::{DensityPoint, RunRecord, Summary};
use crate::units;

pub const STATISTICS_HEADER: [&str; 12] = [
    "isolator",
    "metric",
    "n",
    "min",
    "median",
    "95% CI of median",
    "mean",
    "σ",
    "p95",
    "max",
    "CV",
    "outliers",
];

/// Columns of [`STATISTICS_HEADER`] that hold numbers (right-aligned).
pub const STATISTICS_NUMERIC: std::ops::Range<usize> = 2..12;

/// One row per isolator and metric with a summary: startup, teardown, footprint, and the
/// overheads where measured.
pub fn statistics_rows(record: &RunRecord) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for isolator in &record.isolators {
        let Some(s) = &isolator.summary else { continue };
        let mut push = |metric: &str, summary: &Summary, format: fn(f64) -> String| {
            rows.push(vec![
                isolator.name.clone(),
                metric.to_string(),
                summary.n.to_string(),
                format(summary.min),
                format(summary.median),
                format!(
                    "{} … {}",
                    format(summary.median_ci_low),
                    format(summary.median_ci_high)
                ),
                format(summary.mean),
                format(summary.stddev),
                format(summary.p95),
                format(summary.max),
                format!("{:.1}%", summary.coefficient_of_variation * 100.0),
                summary.outliers.len().to_string(),
            ]);
        };
        push("startup", &s.startup_ns, units::duration_ns);
        push("teardown", &s.teardown_ns, units::duration_ns);
        push("footprint", &s.footprint_bytes, units::bytes);
        if let Some(m) = &s.memory_overhead_bytes {
            push("memory overhead", m, units::bytes);
        }
        if let Some(m) = &s.vmm_overhead_bytes {
            push("VMM overhead", m, units::bytes);
        }
        if let Some(cpu) = &s.cpu_ns {
            push("CPU per trial (attributed)", cpu, units::duration_ns);
        }
    }
    rows
}

pub const DENSITY_HEADER: [&str; 15] = [
    "isolator",
    "requested",
    "reached",
    "launchers",
    "all ready after",
    "launches/s",
    "per instance",
    "MemAvailable drop per instance",
    "host used per instance",
    "host attributed per instance",
    "host CPU per launch",
    "teardown",
    "stopped because",
    "left behind",
    "host notes",
];

/// Columns of [`DENSITY_HEADER`] that hold numbers (right-aligned).
pub const DENSITY_NUMERIC: std::ops::Range<usize> = 1..12;

/// Appended to the host `used` figure of a density point whose host figures were disturbed.
pub const DISTURBED_MARKER: &str = " ⚠";

/// What a density run means, in one sentence for both reports.
pub const DENSITY_EXPLAINED: &str = "N instances of one isolator held at once; per-instance cost is PSS + cgroup kernel memory divided by the instances reached, cross-checked by the drop in MemAvailable. The host columns, where measured, are system-wide: growth of the host's memory in use (/proc/meminfo and the per-CPU free lists) per instance, what the instances' own accounting attributed to them (user-space PSS + kernel memory) per instance, and the whole host's CPU time per launch (launch to gone, less the idle rate); ⚠ marks a point the host disturbed (why in the host notes).";

/// One row per density point, in the order measured.
pub fn density_rows(record: &RunRecord) -> Vec<Vec<String>> {
    record
        .density
        .iter()
        .map(|p| {
            vec![
                p.isolator.clone(),
                p.requested.to_string(),
                p.reached.to_string(),
                p.parallel.to_string(),
                units::duration_ns(p.all_ready_ns as f64),
                format!("{:.1}", p.launches_per_second),
                units::bytes(p.per_instance_footprint_bytes as f64),
                units::bytes(p.per_instance_mem_available_drop_bytes as f64),
                density_host_used(p),
                host(p, |h| h.per_instance_attributed_bytes(), units::bytes),
                host(p, |h| h.per_instance_cpu_ns(), units::duration_ns),
                units::duration_ns(p.teardown_ns as f64),
                p.stopped_because.clone().unwrap_or_else(|| "—".into()),
                if p.leftovers.is_empty() {
                    "nothing".into()
                } else {
                    p.leftovers.join(", ")
                },
                p.host
                    .as_ref()
                    .and_then(|h| h.disturbed.as_ref())
                    .map_or_else(|| "—".into(), |why| format!("disturbed: {why}")),
            ]
        })
        .collect()
}

/// One of a density point's host figures, formatted; "—" when not measured.
fn host(
    point: &DensityPoint,
    value: impl Fn(&crate::schema::HostCostSample) -> Option<f64>,
    format: fn(f64) -> String,
) -> String {
    point
        .host
        .as_ref()
        .and_then(value)
        .map_or_else(|| "—".into(), format)
}

/// The point's system-wide `used` growth per instance, marked when the host disturbed it.
fn density_host_used(point: &DensityPoint) -> String {
    let used = host(point, |h| h.per_instance_used_bytes(), units::bytes);
    match point.host.as_ref().and_then(|h| h.disturbed.as_ref()) {
        Some(_) => format!("{used}{DISTURBED_MARKER}"),
        None => used,
    }
}

pub const HOST_COST_HEADER: [&str; 12] = [
    "isolator",
    "measured over",
    "host used",
    "user-space PSS",
    "attributed kernel",
    "unattributed",
    "MemAvailable drop",
    "launch CPU",
    "overhead vs process",
    "spread",
    "attributed vs used",
    "disturbed",
];

/// Columns of [`HOST_COST_HEADER`] that hold numbers (right-aligned).
pub const HOST_COST_NUMERIC: std::ops::Range<usize> = 2..10;

/// What the host-cost table means, in one sentence for both reports.
pub const HOST_COST_EXPLAINED: &str = "Per instance, system-wide: while a batch of instances of one isolator was held at once, the growth of the host's memory in use (MemTotal − free pages, per-CPU free lists included − Buffers − (Cached − Shmem)), split into what the instances' own accounting attributed to them (user-space PSS; kernel memory charged to their cgroups or estimated) and the remainder nobody claimed; launch CPU is the whole host's CPU time from launch to gone, less its idle rate. Medians over the undisturbed batches of a run, or the largest count of a density run.";

/// One row per isolator with host-cost data (see [`host_cost::rows`]).
pub fn host_cost_rows(record: &RunRecord) -> Vec<Vec<String>> {
    host_cost::rows(record).iter().map(host_cost_row).collect()
}

fn host_cost_row(row: &HostRow) -> Vec<String> {
    let bytes = |v: Option<f64>| v.map_or_else(|| "—".into(), units::bytes);
    let reasons = row.origin.disturbed_reasons();
    vec![
        row.label.clone(),
        row.origin.describe(),
        bytes(row.used_bytes),
        bytes(row.user_bytes),
        bytes(row.kernel_bytes),
        bytes(row.unattributed_bytes()),
        bytes(row.mem_available_drop_bytes),
        row.cpu_ns.map_or_else(|| "—".into(), units::duration_ns),
        bytes(row.overhead_bytes),
        row.spread
            .map_or_else(|| "—".into(), |s| format!("{:.0}%", s * 100.0)),
        match (row.over_attributed_bytes(), row.has_split()) {
            (Some(over), _) => format!("exceeds used by {}", units::bytes(over)),
            (None, true) => "within used".into(),
            (None, false) => "—".into(),
        },
        if reasons.is_empty() {
            "—".into()
        } else {
            reasons.join("; ")
        },
    ]
}
