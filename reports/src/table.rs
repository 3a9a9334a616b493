//! The main results table as rows of cells, shared by the terminal and Markdown renderers.
use crate::schema::{IsolatorRecord, RunRecord};
use crate::units;

pub const HEADER: [&str; 10] = [
    "isolator",
    "class",
    "kernel",
    "startup median",
    "startup p95",
    "mem overhead",
    "disk",
    "teardown",
    "n",
    "what isolates the workload",
];

/// One row per isolator, in run order; unavailable isolators are listed separately.
pub fn rows(record: &RunRecord) -> Vec<[String; 10]> {
    record
        .isolators
        .iter()
        .filter(|i| i.unavailable_reason.is_none())
        .map(row)
        .collect()
}

fn row(isolator: &IsolatorRecord) -> [String; 10] {
    let summary = isolator.summary.as_ref();
    let marker = if isolator.flags.is_empty() {
        String::new()
    } else {
        format!(" [{}]", isolator.flags.join(","))
    };
    let dash = || "—".to_string();
    [
        format!("{}{marker}", isolator.name),
        isolator.kind.clone(),
        isolator.kernel.clone(),
        summary.map_or_else(dash, |s| units::duration_ns(s.startup_ns.median)),
        summary.map_or_else(dash, |s| units::duration_ns(s.startup_ns.p95)),
        summary
            .and_then(|s| s.memory_overhead_bytes.as_ref())
            .map_or_else(dash, |m| units::bytes(m.median)),
        isolator
            .disk
            .as_ref()
            .map_or_else(dash, |d| units::bytes(d.total_apparent_bytes() as f64)),
        summary.map_or_else(dash, |s| units::duration_ns(s.teardown_ns.median)),
        format!(
            "{}{}",
            isolator.samples.len(),
            if isolator.failures.is_empty() {
                String::new()
            } else {
                format!(" ({} failed)", isolator.failures.len())
            }
        ),
        isolator.boundary.clone(),
    ]
}

/// `name: reason` for every isolator that could not run.
pub fn unavailable(record: &RunRecord) -> Vec<(String, String)> {
    record
        .isolators
        .iter()
        .filter_map(|i| Some((i.name.clone(), i.unavailable_reason.clone()?)))
        .collect()
}

/// The one-line host description.
pub fn host_line(record: &RunRecord) -> String {
    let h = &record.host;
    format!(
        "{} · {} · {} × {} · {} RAM · cgroup {} · KVM {} · isobench {} ({})",
        h.os,
        h.kernel,
        h.cores,
        h.cpu_model,
        units::bytes(h.memory_total_bytes as f64),
        h.cgroup_mode,
        h.kvm_provider,
        record.isobench_version,
        record.git_revision
    )
}

/// The run's settings in one line.
pub fn config_line(record: &RunRecord) -> String {
    let c = &record.config;
    format!(
        "{} runs + {} warm-up per isolator, {} order, workload {}, started {}{}",
        c.runs,
        c.warmup,
        c.order,
        c.workload,
        record.started_at,
        if record.complete {
            ""
        } else {
            " — INCOMPLETE (interrupted)"
        }
    )
}
