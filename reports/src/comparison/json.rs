//! The comparison as JSON (`comparison.json`, written beside `run.json`, which stays the raw
//! record): both tiers, each row's cells with raw values in the unit its `property` names,
//! ratios and verdicts. Derived from the record alone; `isobench report` writes it again.
use serde::Serialize;

use super::{compare, Cell, Row, TierTable, CLASSES};
use crate::schema::RunRecord;

/// Bumped on any change an older reader of `comparison.json` would misread.
pub const COMPARISON_VERSION: u32 = 1;

#[derive(Serialize)]
struct Document<'a> {
    comparison_version: u32,
    /// The run it was derived from (`started_at` of its record).
    started_at: &'a str,
    /// The tier the headline verdicts come from.
    headline: &'static str,
    tiers: Vec<TierJson<'a>>,
}

#[derive(Serialize)]
struct TierJson<'a> {
    tier: &'static str,
    title: &'static str,
    description: String,
    /// The VMs compared; null with `missing` when the tier has none.
    vm_isolators: Option<&'a [String]>,
    /// `hardware-kvm`, `software-kvm` or `emulated`; null when the tier has no VM.
    virtualization: Option<&'static str>,
    missing: Option<&'a str>,
    rows: Vec<RowJson<'a>>,
}

#[derive(Serialize)]
struct RowJson<'a> {
    /// `startup_ns`, `memory_overhead_bytes`, `disk_bytes`, `kernel`, `boundary`,
    /// `runtime_vs_process`: the unit of the cells' values.
    property: &'static str,
    label: &'static str,
    /// Which figure the row compares, where there is a choice (the memory row: `host cost:
    /// system-wide, batches of N` or `attributed: PSS + cgroup kernel`); null otherwise.
    source: Option<&'a str>,
    containers: Option<CellJson<'a>>,
    sandboxes: Option<CellJson<'a>>,
    vms: Option<CellJson<'a>>,
    /// Best VM / best container.
    vm_to_container_ratio: Option<f64>,
    verdict: &'a str,
}

#[derive(Serialize)]
struct CellJson<'a> {
    /// As the tables show it.
    best: &'a str,
    value: Option<f64>,
    isolator: Option<&'a str>,
    median: Option<&'a str>,
    median_value: Option<f64>,
    isolators: usize,
    flagged: bool,
    emulated: bool,
}

fn cell(cell: &Cell) -> CellJson<'_> {
    CellJson {
        best: &cell.best,
        value: cell.value,
        isolator: cell.best_isolator.as_deref(),
        median: cell.median.as_deref(),
        median_value: cell.median_value,
        isolators: cell.isolators,
        flagged: cell.flagged,
        emulated: cell.emulated,
    }
}

fn row(row: &Row) -> RowJson<'_> {
    let class = |index: usize| row.cells.get(index).and_then(Option::as_ref).map(cell);
    debug_assert_eq!(row.cells.len(), CLASSES.len());
    RowJson {
        property: row.property.key(),
        label: row.property.label(),
        source: row.source.as_deref(),
        containers: class(0),
        sandboxes: class(1),
        vms: class(2),
        vm_to_container_ratio: row.ratio,
        verdict: &row.verdict,
    }
}

fn tier(table: &TierTable) -> TierJson<'_> {
    TierJson {
        tier: table.tier.key(),
        title: table.tier.title(),
        description: table.description(),
        vm_isolators: table.vms.as_ref().ok().map(|g| g.names.as_slice()),
        virtualization: table.vms.as_ref().ok().map(|g| g.virtualization.key()),
        missing: table.vms.as_ref().err().map(String::as_str),
        rows: table.rows.iter().map(row).collect(),
    }
}

/// The comparison of `record` as pretty-printed JSON bytes, ending in a newline.
pub fn render(record: &RunRecord) -> Vec<u8> {
    let comparison = compare(record);
    let document = Document {
        comparison_version: COMPARISON_VERSION,
        started_at: &record.started_at,
        headline: comparison.headline().tier.key(),
        tiers: comparison.tiers.iter().map(tier).collect(),
    };
    let mut bytes = serde_json::to_vec_pretty(&document).expect("the comparison always serializes");
    bytes.push(b'\n');
    bytes
}
