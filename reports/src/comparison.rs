//! The "VMs vs containers" table, answered with this run's numbers: one row per textbook
//! property, the best and median isolator of each class, the VM/container ratio and a verdict.
use crate::schema::{IsolatorRecord, RunRecord};
use crate::units;

/// The classes compared, in column order.
pub const CLASSES: [Class; 3] = [Class::Container, Class::Sandbox, Class::Vm];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Shared kernel, namespaces and cgroups (kind "container").
    Container,
    /// A user-space kernel in front of the host kernel (kind "sandbox", e.g. gVisor).
    Sandbox,
    /// Own kernel under hardware virtualization (kind "microvm").
    Vm,
}

impl Class {
    pub fn label(self) -> &'static str {
        match self {
            Class::Container => "containers",
            Class::Sandbox => "sandboxes",
            Class::Vm => "VMs",
        }
    }
    fn kind(self) -> &'static str {
        match self {
            Class::Container => "container",
            Class::Sandbox => "sandbox",
            Class::Vm => "microvm",
        }
    }
}

/// One class's value for one property: the best isolator and the class median.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub best: String,
    pub median: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub property: &'static str,
    /// One cell per entry of [`CLASSES`]; None when the class was not measured.
    pub cells: Vec<Option<Cell>>,
    /// VM best / container best, where both exist and a ratio means something.
    pub ratio: Option<f64>,
    pub verdict: String,
}

/// Builds the table. Pure: everything comes from the record.
pub fn table(record: &RunRecord) -> Vec<Row> {
    let software_vm = members(record, Class::Vm)
        .iter()
        .any(|i| i.flags.iter().any(|f| f == "software-kvm"));
    let caveat = if software_vm {
        " — but VM timings here are on software KVM and mean little"
    } else {
        ""
    };
    let mut rows = vec![
        numeric_row(record, "startup (median)", |i| i.summary.as_ref().map(|s| s.startup_ns.median), units::duration_ns, |r| {
            format!("containers start {} faster here{caveat} (textbook: seconds vs minutes)", units::ratio(r))
        }),
        numeric_row(
            record,
            "memory overhead vs process",
            |i| i.summary.as_ref().and_then(|s| s.memory_overhead_bytes.as_ref()).map(|s| s.median),
            units::bytes,
            |r| format!("VMs cost {} the memory of containers here (textbook: limited vs near native)", units::ratio(r)),
        ),
        numeric_row(
            record,
            "disk footprint",
            |i| i.disk.as_ref().map(|d| d.total_apparent_bytes() as f64),
            units::bytes,
            |r| format!("VMs need {} the disk of containers here (textbook: GBs vs MBs)", units::ratio(r)),
        ),
        text_row(record, "kernel", |i| i.kernel.clone(), "VMs boot their own kernel; containers share the host's (textbook: own vs shared kernel)"),
        text_row(record, "isolation boundary", |i| i.boundary.clone(), "VMs isolate with hardware virtualization; containers with kernel namespaces (textbook: full vs process-level)"),
    ];
    if record.config.workload != "noop" && !record.config.workload.starts_with("touch") {
        rows.push(runtime_row(record));
    }
    rows
}

fn members(record: &RunRecord, class: Class) -> Vec<&IsolatorRecord> {
    record
        .isolators
        .iter()
        .filter(|i| i.kind == class.kind() && i.unavailable_reason.is_none() && i.summary.is_some())
        .collect()
}

fn numeric_row(
    record: &RunRecord,
    property: &'static str,
    value: impl Fn(&IsolatorRecord) -> Option<f64>,
    format: fn(f64) -> String,
    verdict: impl Fn(f64) -> String,
) -> Row {
    let mut bests = Vec::new();
    let cells = CLASSES
        .iter()
        .map(|&class| {
            let mut values: Vec<(f64, &str)> = members(record, class)
                .iter()
                .filter_map(|i| Some((value(i)?, i.name.as_str())))
                .collect();
            values.sort_by(|a, b| a.0.total_cmp(&b.0));
            let (best_value, best_name) = *values.first()?;
            bests.push((class, best_value));
            let median = values[values.len() / 2].0;
            Some(Cell {
                best: format!("{} ({best_name})", format(best_value)),
                median: format(median),
            })
        })
        .collect();
    let best = |class| bests.iter().find(|(c, _)| *c == class).map(|(_, v)| *v);
    let ratio = match (best(Class::Vm), best(Class::Container)) {
        (Some(vm), Some(container)) if container > 0.0 && vm > 0.0 => Some(vm / container),
        _ => None,
    };
    let verdict = match ratio {
        Some(r) if r >= 1.0 => verdict(r),
        Some(r) => format!(
            "contrary to the textbook, VMs do better here ({} of the containers' value)",
            units::ratio(r)
        ),
        None => "not measured: needs a container and a VM result".to_string(),
    };
    Row {
        property,
        cells,
        ratio,
        verdict,
    }
}

fn text_row(
    record: &RunRecord,
    property: &'static str,
    value: impl Fn(&IsolatorRecord) -> String,
    verdict: &str,
) -> Row {
    let cells: Vec<Option<Cell>> = CLASSES
        .iter()
        .map(|&class| {
            let values: Vec<String> = members(record, class).iter().map(|i| value(i)).collect();
            let first = values.first()?.clone();
            Some(Cell {
                best: first.clone(),
                median: first,
            })
        })
        .collect();
    let verdict = if cells[0].is_some() && cells[2].is_some() {
        verdict.to_string()
    } else {
        "not measured: needs a container and a VM result".into()
    };
    Row {
        property,
        cells,
        ratio: None,
        verdict,
    }
}

/// Runtime performance: the probe's own `work_ns`, relative to the bare process.
fn runtime_row(record: &RunRecord) -> Row {
    let work = |i: &IsolatorRecord| {
        let mut values: Vec<f64> = i
            .samples
            .iter()
            .filter_map(|s| s.probe_report.get("work_ns")?.parse().ok())
            .collect();
        values.sort_by(|a, b| a.total_cmp(b));
        values.get(values.len() / 2).copied()
    };
    let base = record.isolator("process").and_then(work);
    let relative = move |i: &IsolatorRecord| Some(work(i)? / base?);
    let mut row = numeric_row(
        record,
        "runtime vs bare process",
        relative,
        |r| format!("{r:.2}× process"),
        |r| {
            format!(
                "VM code runs {} as long as container code here (textbook: limited vs near native)",
                units::ratio(r)
            )
        },
    );
    if base.is_none() {
        row.verdict = "not measured: the process baseline reported no work_ns".into();
    }
    row
}
