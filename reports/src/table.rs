//! The main results table as rows of cells, shared by the terminal, Markdown and HTML renderers:
//! one row per isolator asked for (unavailable ones too), flagged rows marked with `*`.
use crate::schema::{Flag, IsolatorRecord, RunRecord};
use crate::units;

/// Cells per row.
pub const COLUMNS: usize = 11;

pub const HEADER: [&str; COLUMNS] = [
    "isolator",
    "class",
    "kernel",
    "startup median",
    "startup p95",
    "mem overhead",
    "disk",
    "disk runtime + image",
    "teardown",
    "n",
    "what isolates the workload",
];

/// Columns holding numbers (right-aligned).
pub const NUMERIC_COLUMNS: [usize; 7] = [3, 4, 5, 6, 7, 8, 9];

/// Appended to the name of an isolator whose numbers carry a flag; explained by [`legend`].
pub const FLAG_MARKER: &str = "*";

/// What a startup cell says for an isolator that could not run.
pub const UNAVAILABLE: &str = "unavailable";

/// One row per isolator, in run order, unavailable ones included (their reasons are in
/// [`unavailable`]).
pub fn rows(record: &RunRecord) -> Vec<[String; COLUMNS]> {
    record.isolators.iter().map(row).collect()
}

/// The isolator's name with the flag marker when it has flags.
pub fn marked_name(isolator: &IsolatorRecord) -> String {
    if isolator.flags.is_empty() {
        isolator.name.clone()
    } else {
        format!("{}{FLAG_MARKER}", isolator.name)
    }
}

fn row(isolator: &IsolatorRecord) -> [String; COLUMNS] {
    let dash = || "—".to_string();
    let available = isolator.status.is_available();
    let summary = isolator.summary.as_ref().filter(|_| available);
    let disk = isolator.disk.as_ref().filter(|_| available);
    let startup = match summary {
        Some(s) => units::duration_ns(s.startup_ns.median),
        None if !available => UNAVAILABLE.into(),
        None => dash(),
    };
    let failed = if isolator.failures.is_empty() {
        String::new()
    } else {
        format!(" ({} failed)", isolator.failures.len())
    };
    [
        marked_name(isolator),
        isolator.kind.as_str().to_string(),
        isolator.kernel.as_str().to_string(),
        startup,
        summary.map_or_else(dash, |s| units::duration_ns(s.startup_ns.p95)),
        summary
            .and_then(|s| s.memory_overhead_bytes.as_ref())
            .map_or_else(dash, |m| units::bytes(m.median)),
        disk.map_or_else(dash, |d| units::bytes(d.total_apparent_bytes() as f64)),
        disk.map_or_else(dash, |d| {
            format!(
                "{} + {}",
                units::bytes(d.runtime_apparent_bytes as f64),
                units::bytes(d.image_apparent_bytes as f64)
            )
        }),
        summary.map_or_else(dash, |s| units::duration_ns(s.teardown_ns.median)),
        if available {
            format!("{}{failed}", isolator.samples.len())
        } else {
            dash()
        },
        isolator.boundary.clone(),
    ]
}

/// `name: reason` for every isolator that could not run.
pub fn unavailable(record: &RunRecord) -> Vec<(String, String)> {
    record
        .isolators
        .iter()
        .filter_map(|i| Some((i.name.clone(), i.status.reason()?)))
        .collect()
}

/// One line per distinct flag: `* software-kvm (microvm, qemu-microvm): <why it matters>`.
/// The explanation is the run's warning with the same code, when there is one.
pub fn legend(record: &RunRecord) -> Vec<String> {
    let mut flags: Vec<Flag> = Vec::new();
    for &flag in record.isolators.iter().flat_map(|i| &i.flags) {
        if !flags.contains(&flag) {
            flags.push(flag);
        }
    }
    flags
        .into_iter()
        .map(|flag| {
            let names: Vec<&str> = record
                .isolators
                .iter()
                .filter(|i| i.flags.contains(&flag))
                .map(|i| i.name.as_str())
                .collect();
            // The run's warnings with this code, each without its "isolator: " prefix, once.
            let mut reasons: Vec<&str> = Vec::new();
            for warning in record.warnings.iter().filter(|w| w.code == flag.into()) {
                let message = warning
                    .isolator
                    .as_ref()
                    .and_then(|name| warning.message.strip_prefix(&format!("{name}: ")))
                    .unwrap_or(&warning.message);
                if !reasons.contains(&message) {
                    reasons.push(message);
                }
            }
            let why = if reasons.is_empty() {
                "its numbers may not mean what they say".to_string()
            } else {
                reasons.join("; ")
            };
            format!("{FLAG_MARKER} {flag} ({}): {why}", names.join(", "))
        })
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
