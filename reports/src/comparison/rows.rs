//! The rows of one tier's table: each property's best and median per class, the VM/container
//! ratio, and the verdict (phrased in [`super::verdict`]).
use super::memory;
use super::tiers::{is_emulated, Tier, Virtualization};
use super::verdict::{distinct, most_common, Verdicts};
use super::{Cell, Class, Property, Row, CLASSES};
use crate::schema::{GuestKind, IsolatorRecord, KernelKind, Mode, RunRecord};
use crate::units;

/// The isolators of each entry of [`CLASSES`] that a tier compares.
pub(super) type Columns<'a> = [Vec<&'a IsolatorRecord>; 3];

/// Every row of `tier`, whose VM column holds VMs that ran on `virtualization` (None: no VM).
pub(super) fn rows(
    record: &RunRecord,
    tier: Tier,
    virtualization: Option<Virtualization>,
    columns: &Columns<'_>,
) -> Vec<Row> {
    let memory = memory::choose(columns);
    let mut verdicts = Verdicts::new(tier, virtualization, &columns[2]);
    verdicts.memory_noisy(&memory.noisy);
    verdicts.memory_is_footprint(memory.figure == memory::Figure::Footprint);
    let startup = |i: &IsolatorRecord| i.summary.as_ref().map(|s| s.startup_ns.median);
    // A Linux-guest VM's record counts its runtime, kernel and initramfs.
    let disk = |i: &IsolatorRecord| i.disk.as_ref().map(|d| d.total_apparent_bytes() as f64);
    let kernel = match tier {
        Tier::Os => text_row(
            columns,
            Property::Kernel,
            |i| i.kernel,
            |c, v| verdicts.kernel(c, v),
        ),
        Tier::Floor => text_row(
            columns,
            Property::Kernel,
            |i| match i.guest() {
                GuestKind::Bare => "none (bare guest)".to_string(),
                _ => i.kernel.as_str().to_string(),
            },
            |c, v| verdicts.floor_kernel(c, v),
        ),
    };
    let mut rows = vec![
        numeric_row(
            columns,
            Property::Startup,
            startup,
            units::duration_ns,
            &verdicts,
        ),
        Row {
            source: Some(memory.description.clone()),
            ..numeric_row(
                &memory.columns,
                Property::MemoryOverhead,
                |i| memory.value(i),
                units::bytes,
                &verdicts,
            )
        },
        numeric_row(columns, Property::Disk, disk, units::bytes, &verdicts),
        kernel,
        text_row(
            columns,
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
            columns,
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
    rows
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

/// One class's numbers: the best value and who gave it, the class median, how many answered.
#[derive(Clone, Copy)]
struct ClassValues<'a> {
    best: f64,
    best_isolator: &'a IsolatorRecord,
    median: f64,
    count: usize,
}

fn numeric_row(
    columns: &Columns<'_>,
    property: Property,
    value: impl Fn(&IsolatorRecord) -> Option<f64>,
    format: impl Fn(f64) -> String,
    verdicts: &Verdicts,
) -> Row {
    let per_class: Vec<Option<ClassValues<'_>>> = columns
        .iter()
        .map(|members| {
            let mut values: Vec<(f64, &IsolatorRecord)> = members
                .iter()
                .filter_map(|i| Some((value(i)?, *i)))
                .collect();
            values.sort_by(|a, b| a.0.total_cmp(&b.0));
            let (best, best_isolator) = *values.first()?;
            Some(ClassValues {
                best,
                best_isolator,
                median: median(values.iter().map(|v| v.0).collect())?,
                count: values.len(),
            })
        })
        .collect();
    let cells = per_class
        .iter()
        .map(|values| {
            let v = (*values)?;
            Some(Cell {
                best: format(v.best),
                value: Some(v.best),
                best_isolator: Some(v.best_isolator.name.clone()),
                median: (v.count > 1).then(|| format(v.median)),
                median_value: Some(v.median),
                isolators: v.count,
                flagged: !v.best_isolator.flags.is_empty(),
                emulated: is_emulated(v.best_isolator),
            })
        })
        .collect();
    let of = |class: Class| per_class[CLASSES.iter().position(|c| *c == class).expect("listed")];
    let (container, vm) = (of(Class::Container), of(Class::Vm));
    let ratio = match (container, vm) {
        (Some(c), Some(v)) if c.best > 0.0 && v.best >= 0.0 => Some(v.best / c.best),
        _ => None,
    };
    let pair = |values: Option<ClassValues<'_>>| values.map(|v| (v.best, v.median));
    let verdict = verdicts.numeric(property, pair(container), pair(vm), &format);
    Row {
        property,
        cells,
        ratio,
        verdict,
        source: None,
    }
}

fn text_row<T: Clone + PartialEq + Shown>(
    columns: &Columns<'_>,
    property: Property,
    value: impl Fn(&IsolatorRecord) -> T,
    verdict: impl Fn(&[T], &[T]) -> String,
) -> Row {
    let per_class: Vec<Vec<T>> = columns
        .iter()
        .map(|members| members.iter().map(|i| value(i)).collect())
        .collect();
    let cells = columns
        .iter()
        .zip(&per_class)
        .map(|(members, values)| {
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
                value: None,
                best_isolator: None,
                median: None,
                median_value: None,
                isolators: values.len(),
                flagged: members.iter().any(|i| !i.flags.is_empty()),
                emulated: false,
            })
        })
        .collect();
    let verdict = verdict(&per_class[0], &per_class[2]);
    Row {
        property,
        cells,
        ratio: None,
        verdict,
        source: None,
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
