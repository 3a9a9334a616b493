//! The "VMs vs containers" table, answered with this run's numbers: one row per textbook
//! property, the best and the median isolator of each class, the VM/container ratio and a
//! verdict phrased from the numbers.
//!
//! Classes are isolator kinds: containers (`container`: shared kernel, namespaces, cgroups),
//! sandboxes (`sandbox`: a user-space kernel such as gVisor in front of the host kernel) and
//! VMs (`microvm`: own guest kernel under hardware virtualization). Sandboxes get their own
//! column instead of being grouped: counted as containers they would make containers look
//! slow and heavy, counted as VMs they would flatter VMs, and the textbook table speaks of
//! neither. The ratio and the verdict compare VMs with containers only, best against best
//! (the class medians are shown beside them). The bare process is no class: it is the
//! baseline that memory overhead and runtime performance are measured against.
//!
//! Pure: everything comes from the record; the renderers lay the [`Comparison`] out.
mod verdict;

use crate::schema::{IsolatorRecord, KernelKind, Kind, Mode, RunRecord};
use crate::units;
use verdict::{distinct, most_common, Verdicts};

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

    /// The isolator kind that makes up this class.
    pub fn kind(self) -> Kind {
        match self {
            Class::Container => Kind::Container,
            Class::Sandbox => Kind::Sandbox,
            Class::Vm => Kind::Microvm,
        }
    }
}

/// The textbook properties, in row order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Property {
    Startup,
    MemoryOverhead,
    Disk,
    Kernel,
    Boundary,
    /// The probe's own `work_ns` relative to the bare process (only for workloads that work).
    Runtime,
}

impl Property {
    pub fn label(self) -> &'static str {
        match self {
            Property::Startup => "startup (median)",
            Property::MemoryOverhead => "memory overhead vs process",
            Property::Disk => "disk footprint",
            Property::Kernel => "kernel",
            Property::Boundary => "isolation boundary",
            Property::Runtime => "runtime vs bare process",
        }
    }

    /// What the textbook table says.
    pub fn textbook(self) -> &'static str {
        match self {
            Property::Startup => "containers start in seconds, VMs in minutes",
            Property::MemoryOverhead | Property::Runtime => {
                "VM overhead is limited, container overhead near native"
            }
            Property::Disk => "VMs need GBs, containers MBs",
            Property::Kernel => "VMs run their own kernel, containers share the host's",
            Property::Boundary => "VMs isolate fully, containers at process level",
        }
    }
}

/// One class's answer for one property.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// The best value, formatted (numeric rows), or the class's most common value (text rows).
    pub best: String,
    /// The isolator that gave the best value (numeric rows).
    pub best_isolator: Option<String>,
    /// The class median, formatted, when the class has more than one isolator.
    pub median: Option<String>,
    /// How many isolators of the class answered.
    pub isolators: usize,
    /// Whether the isolator behind the value (numeric rows: the best one; text rows: any of
    /// the class) carries a flag such as software KVM; shown as `*`.
    pub flagged: bool,
}

impl Cell {
    /// `2.18 ms (container), median 20.1 ms`; `327 ms (runsc)`; `shared`.
    pub fn text(&self) -> String {
        let mut out = self.best.clone();
        if let Some(name) = &self.best_isolator {
            out += &format!(" ({name}{})", if self.flagged { "*" } else { "" });
        }
        if let Some(median) = &self.median {
            out += &format!(", median {median}");
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub property: Property,
    /// One cell per entry of [`CLASSES`]; None when the class was not measured.
    pub cells: Vec<Option<Cell>>,
    /// VM best / container best, where both exist and the quotient means something.
    pub ratio: Option<f64>,
    pub verdict: String,
}

impl Row {
    /// The row as plain text cells, as the Markdown and terminal tables show it: the property,
    /// one cell per entry of [`CLASSES`] ([`NOT_MEASURED`] where empty), then the ratio ("—"
    /// where none). The verdict is left to the caller.
    pub fn text_cells(&self) -> Vec<String> {
        let mut cells = vec![self.property.label().to_string()];
        cells.extend(
            self.cells
                .iter()
                .map(|cell| cell.as_ref().map_or(NOT_MEASURED.to_string(), Cell::text)),
        );
        cells.push(self.ratio.map_or("—".into(), units::ratio));
        cells
    }
}

/// The whole table.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub rows: Vec<Row>,
}

impl Comparison {
    pub fn row(&self, property: Property) -> Option<&Row> {
        self.rows.iter().find(|r| r.property == property)
    }
}

/// The text shown for a class that has no result.
pub const NOT_MEASURED: &str = "not measured";

/// Builds the table from the record.
pub fn compare(record: &RunRecord) -> Comparison {
    let verdicts = Verdicts::new(record);
    let startup = |i: &IsolatorRecord| i.summary.as_ref().map(|s| s.startup_ns.median);
    let memory = |i: &IsolatorRecord| {
        let summary = i.summary.as_ref()?;
        summary.memory_overhead_bytes.as_ref().map(|m| m.median)
    };
    let disk = |i: &IsolatorRecord| i.disk.as_ref().map(|d| d.total_apparent_bytes() as f64);
    let mut rows = vec![
        numeric_row(
            record,
            Property::Startup,
            startup,
            units::duration_ns,
            &verdicts,
        ),
        numeric_row(
            record,
            Property::MemoryOverhead,
            memory,
            units::bytes,
            &verdicts,
        ),
        numeric_row(record, Property::Disk, disk, units::bytes, &verdicts),
        text_row(
            record,
            Property::Kernel,
            |i| i.kernel,
            |c, v| verdicts.kernel(c, v),
        ),
        text_row(
            record,
            Property::Boundary,
            |i| i.boundary.clone(),
            |c, v| verdicts.boundary(c, v),
        ),
    ];
    if has_work_reports(record) {
        let base = record.isolator("process").and_then(work_median_ns);
        let relative = move |i: &IsolatorRecord| Some(work_median_ns(i)? / base?);
        let format = |r: f64| match r {
            r if r >= 100.0 => format!("{r:.0}× process"),
            r if r >= 10.0 => format!("{r:.1}× process"),
            r => format!("{r:.2}× process"),
        };
        rows.push(numeric_row(
            record,
            Property::Runtime,
            relative,
            format,
            &verdicts,
        ));
        if base.is_none() {
            let row = rows.last_mut().expect("just pushed");
            row.verdict = "not measured: the process baseline reported no work_ns".into();
        }
    }
    Comparison { rows }
}

/// Available isolators of `class` that produced a summary.
pub fn members(record: &RunRecord, class: Class) -> Vec<&IsolatorRecord> {
    record
        .isolators
        .iter()
        .filter(|i| i.kind == class.kind() && i.status.is_available() && i.summary.is_some())
        .collect()
}

/// A runtime row belongs only to workloads that do work and report how long it took.
fn has_work_reports(record: &RunRecord) -> bool {
    !matches!(record.config.workload.mode, Mode::Noop | Mode::Touch { .. })
        && record.isolators.iter().any(|i| work_median_ns(i).is_some())
}

fn work_median_ns(isolator: &IsolatorRecord) -> Option<f64> {
    let values: Vec<f64> = isolator
        .samples
        .iter()
        .filter_map(|s| s.probe_report.get("work_ns")?.parse().ok())
        .collect();
    median(values)
}

/// The median (mean of the middle two for an even count); None when empty.
fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

/// Per class: (best value, best isolator, class median, isolators, best one flagged).
type ClassValues<'a> = Option<(f64, &'a str, f64, usize, bool)>;

fn numeric_row(
    record: &RunRecord,
    property: Property,
    value: impl Fn(&IsolatorRecord) -> Option<f64>,
    format: impl Fn(f64) -> String,
    verdicts: &Verdicts,
) -> Row {
    let per_class: Vec<ClassValues<'_>> = CLASSES
        .iter()
        .map(|&class| {
            let mut values: Vec<(f64, &IsolatorRecord)> = members(record, class)
                .into_iter()
                .filter_map(|i| Some((value(i)?, i)))
                .collect();
            values.sort_by(|a, b| a.0.total_cmp(&b.0));
            let (best, best_isolator) = *values.first()?;
            let class_median = median(values.iter().map(|v| v.0).collect())?;
            let flagged = !best_isolator.flags.is_empty();
            Some((
                best,
                best_isolator.name.as_str(),
                class_median,
                values.len(),
                flagged,
            ))
        })
        .collect();
    let cells = per_class
        .iter()
        .map(|values| {
            let (best, name, class_median, count, flagged) = (*values)?;
            Some(Cell {
                best: format(best),
                best_isolator: Some(name.to_string()),
                median: (count > 1).then(|| format(class_median)),
                isolators: count,
                flagged,
            })
        })
        .collect();
    let of = |class: Class| per_class[CLASSES.iter().position(|c| *c == class).expect("listed")];
    let (container, vm) = (of(Class::Container), of(Class::Vm));
    let ratio = match (container, vm) {
        (Some(c), Some(v)) if c.0 > 0.0 && v.0 >= 0.0 => Some(v.0 / c.0),
        _ => None,
    };
    let pair =
        |values: ClassValues<'_>| values.map(|(best, _, class_median, ..)| (best, class_median));
    let verdict = verdicts.numeric(property, pair(container), pair(vm), &format);
    Row {
        property,
        cells,
        ratio,
        verdict,
    }
}

fn text_row<T: Clone + PartialEq + Shown>(
    record: &RunRecord,
    property: Property,
    value: impl Fn(&IsolatorRecord) -> T,
    verdict: impl Fn(&[T], &[T]) -> String,
) -> Row {
    let per_class: Vec<Vec<T>> = CLASSES
        .iter()
        .map(|&class| members(record, class).into_iter().map(&value).collect())
        .collect();
    let cells = CLASSES
        .iter()
        .zip(&per_class)
        .map(|(&class, values)| {
            let common = most_common(values)?;
            let others = distinct(values).len() - 1;
            Some(Cell {
                best: if others == 0 {
                    common.shown()
                } else {
                    format!(
                        "{} (+{others} other{})",
                        common.shown(),
                        if others == 1 { "" } else { "s" }
                    )
                },
                best_isolator: None,
                median: None,
                isolators: values.len(),
                flagged: members(record, class).iter().any(|i| !i.flags.is_empty()),
            })
        })
        .collect();
    let verdict = verdict(&per_class[0], &per_class[2]);
    Row {
        property,
        cells,
        ratio: None,
        verdict,
    }
}

/// How a text row's value reads in its cell.
trait Shown {
    fn shown(&self) -> String;
}

impl Shown for String {
    fn shown(&self) -> String {
        self.clone()
    }
}

impl Shown for KernelKind {
    fn shown(&self) -> String {
        self.as_str().to_string()
    }
}
