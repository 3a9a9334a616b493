//! The main results table as rows of cells, shared by the terminal, Markdown and HTML renderers:
//! one row per isolator asked for (unavailable ones too), flagged rows marked with `*`, and
//! the footnotes that say what the launch CPU and host cost columns measured.
use crate::schema::{Flag, IsolatorRecord, RunRecord};
use crate::{host_cost, units};

/// Cells per row.
pub const COLUMNS: usize = 13;

pub const HEADER: [&str; COLUMNS] = [
    "isolator",
    "class",
    "kernel",
    "startup median",
    "startup p95",
    "launch CPU",
    "mem overhead",
    "host mem cost",
    "disk",
    "disk runtime + image",
    "teardown",
    "n",
    "what isolates the workload",
];

/// Columns holding numbers (right-aligned).
pub const NUMERIC_COLUMNS: [usize; 9] = [3, 4, 5, 6, 7, 8, 9, 10, 11];

/// Appended to the name of an isolator whose numbers carry a flag; explained by [`legend`].
pub const FLAG_MARKER: &str = "*";

/// Appended to a launch CPU figure that is the instance's own accounting only (no system-wide
/// host cost was measured); explained by [`footnotes`].
pub const ATTRIBUTED_MARKER: &str = "ᵃ";

/// Appended to a host memory cost that is the whole growth per instance, not an overhead (no
/// process baseline in the run); explained by [`footnotes`].
pub const TOTAL_MARKER: &str = "ᵗ";

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
        launch_cpu_ns(isolator).map_or_else(dash, |(ns, attributed)| {
            let mark = if attributed { ATTRIBUTED_MARKER } else { "" };
            format!("{}{mark}", units::duration_ns(ns))
        }),
        memory_bytes(isolator).map_or_else(dash, |(bytes, total)| {
            let mark = if total { TOTAL_MARKER } else { "" };
            format!("{}{mark}", units::bytes(bytes))
        }),
        host_memory_bytes(isolator).map_or_else(dash, |(bytes, total)| {
            let mark = if total { TOTAL_MARKER } else { "" };
            format!("{}{mark}", units::bytes(bytes))
        }),
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
            format!("{}{failed}", isolator.sample_count())
        } else {
            dash()
        },
        isolator.boundary.clone(),
    ]
}

/// CPU per launch: the system-wide figure from the host-cost batches, else the median of the
/// trials' own accounting (then `true`: attributed only). None when neither was measured.
pub fn launch_cpu_ns(isolator: &IsolatorRecord) -> Option<(f64, bool)> {
    if !isolator.status.is_available() {
        return None;
    }
    if let Some(ns) = isolator.host_cost.as_ref().and_then(|h| h.launch_cpu_ns) {
        return Some((ns, false));
    }
    let attributed = isolator.summary.as_ref()?.cpu_ns.as_ref()?;
    Some((attributed.median, true))
}

/// Memory per instance: the median overhead over the process baseline, else the median whole
/// footprint (then `true`: no baseline to subtract, as for a user workload in a rootfs the
/// baseline cannot run). None when not measured.
pub fn memory_bytes(isolator: &IsolatorRecord) -> Option<(f64, bool)> {
    let summary = isolator
        .summary
        .as_ref()
        .filter(|_| isolator.status.is_available())?;
    match &summary.memory_overhead_bytes {
        Some(overhead) => Some((overhead.median, false)),
        None if summary.footprint_bytes.n > 0 => Some((summary.footprint_bytes.median, true)),
        None => None,
    }
}

/// Host memory cost per instance: the system-wide overhead over the process baseline, else the
/// whole system-wide growth (then `true`: no baseline to subtract). None when not measured, or
/// every batch was disturbed.
pub fn host_memory_bytes(isolator: &IsolatorRecord) -> Option<(f64, bool)> {
    if !isolator.status.is_available() {
        return None;
    }
    let host = isolator.host_cost.as_ref()?;
    match (host.overhead_bytes, host.per_instance_used_bytes) {
        (Some(overhead), _) => Some((overhead, false)),
        (None, Some(used)) => Some((used, true)),
        (None, None) => None,
    }
}

/// What the launch CPU and host mem cost columns measured, one line each, only for what the
/// table shows: the system-wide figures, and the markers of the fallbacks.
pub fn footnotes(record: &RunRecord) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(batch) = host_cost::batch_sizes(&record.isolators) {
        lines.push(format!(
            "launch CPU: CPU time of the whole host (every process and kernel thread, less its idle \
             rate) per instance from launch to gone; host mem cost: growth of the host's \
             memory in use (/proc/meminfo, per-CPU free lists counted free) per instance over the \
             process baseline's; both \
             measured system-wide over batches of {batch} instances held at once. mem overhead is \
             what the instance's own accounting (PSS + cgroup kernel) attributes to it."
        ));
    }
    let isolators = &record.isolators;
    if isolators
        .iter()
        .any(|i| launch_cpu_ns(i).is_some_and(|(_, attributed)| attributed))
    {
        lines.push(format!(
            "{ATTRIBUTED_MARKER} launch CPU attributed only: what the instance's own accounting saw \
             (its cgroup, or its reaped processes' rusage); daemons and kernel threads working for \
             it are not counted (no system-wide host cost was measured)."
        ));
    }
    if isolators
        .iter()
        .any(|i| host_memory_bytes(i).is_some_and(|(_, total)| total))
    {
        lines.push(format!(
            "{TOTAL_MARKER} host mem cost is the whole system-wide growth per instance, not an \
             overhead: the run has no process baseline to subtract."
        ));
    }
    if isolators
        .iter()
        .any(|i| memory_bytes(i).is_some_and(|(_, total)| total))
    {
        lines.push(format!(
            "{TOTAL_MARKER} mem overhead is the instance's whole footprint (PSS + cgroup kernel \
             memory), not an overhead: the run has no process baseline to subtract."
        ));
    }
    lines.extend(crate::warm_start::ratio_line(record));
    lines
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
                default_reason(flag).to_string()
            } else {
                reasons.join("; ")
            };
            format!("{FLAG_MARKER} {flag} ({}): {why}", names.join(", "))
        })
        .collect()
}

/// Why a flag matters, when the run has no warning that says it.
fn default_reason(flag: Flag) -> &'static str {
    match flag {
        Flag::HostCostNoisy => "its host-cost batches disagree or were disturbed by other work on the host: its system-wide memory figure is uncertain",
        Flag::SoftwareKvm | Flag::Emulated | Flag::Noisy | Flag::FewSamples => {
            "its numbers may not mean what they say"
        }
    }
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
    let shape = match &c.order {
        crate::schema::Order::Density {
            instances,
            parallel,
        } => format!("density: {instances:?} instances held at once, {parallel} launcher(s)"),
        order => format!(
            "{} runs + {} warm-up per isolator, {order} order",
            c.runs, c.warmup
        ),
    };
    let workload = match &c.user_workload {
        Some(user) => format!("{} ({})", c.workload, user.summary()),
        None => c.workload.to_string(),
    };
    format!(
        "{shape}, workload {workload}, started {}{}",
        record.started_at,
        if record.complete {
            ""
        } else {
            " — INCOMPLETE (interrupted)"
        }
    )
}
