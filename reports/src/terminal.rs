//! The terminal rendering: host, every warning, the results table with a legend for flagged
//! isolators and footnotes for the host-cost columns, the unavailable ones with their reasons,
//! then the "VMs vs containers" table in its two tiers (with an OS first, then the floor); a
//! density record (`isobench density`) gets its points' table instead.
use crate::comparison::{self, Class, TierTable, CLASSES};
use crate::detail;
use crate::grid::{self, Column, BOLD, DIM, YELLOW};
use crate::schema::RunRecord;
use crate::table;

/// How to lay the text out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Terminal width in characters; None: no limit (tables keep their natural width).
    pub width: Option<usize>,
    /// ANSI styles (bold headers, yellow warnings, dim unavailable rows).
    pub color: bool,
}

/// The whole report as plain text at natural width, no colour codes.
pub fn render(record: &RunRecord) -> String {
    render_with(record, Options::default())
}

/// The whole report within `options.width` columns: long cells and lines wrap, and on a narrow
/// terminal the least important columns are dropped (the text says which).
pub fn render_with(record: &RunRecord, options: Options) -> String {
    let text = |line: &str, indent: &str| wrapped(line, indent, options.width);
    let warn = |line: &str| grid::paint(&text(line, "  "), YELLOW, options.color);
    let mut out = text(&format!("host: {}", table::host_line(record)), "");
    out += &text(&format!("run: {}", table::config_line(record)), "");
    for warning in &record.warnings {
        out += &warn(&format!("! {}", warning.message));
    }
    out += "\n";
    if !record.has_trials() && !record.density.is_empty() {
        // A density record (`isobench density`): its points, not an empty run table.
        return out + &density_table(record, options, true);
    }
    out += &main_table(record, options);
    for line in table::legend(record) {
        out += &warn(&line);
    }
    for line in table::footnotes(record) {
        out += &text(&line, "  ");
    }
    for (name, reason) in table::unavailable(record) {
        out += &text(&format!("- {name}: unavailable: {reason}"), "  ");
    }
    out += "\n";
    out += &comparison_table(record, options);
    if !record.density.is_empty() {
        out += "\n";
        out += &density_table(record, options, false);
    }
    out
}

/// The density points as the Markdown report has them (one row per point, in the order
/// measured), then what they mean and (`with_unavailable`: when the run table above did not
/// list them) the isolators that were not measured.
fn density_table(record: &RunRecord, options: Options, with_unavailable: bool) -> String {
    let columns: Vec<Column> = detail::DENSITY_HEADER
        .iter()
        .enumerate()
        .map(|(index, header)| {
            let column = Column::new(header).wrap(10);
            let column = if detail::DENSITY_NUMERIC.contains(&index) {
                column.right()
            } else {
                column
            };
            // Dropped first on a narrow terminal: the host notes, launchers, the host columns,
            // then what is left behind (normally nothing), MemAvailable and teardown.
            match index {
                14 => column.droppable(0),
                3 => column.droppable(1),
                9 => column.droppable(2),
                10 => column.droppable(3),
                8 => column.droppable(4),
                13 => column.droppable(5),
                7 => column.droppable(6),
                11 => column.droppable(7),
                _ => column,
            }
        })
        .collect();
    let rows = detail::density_rows(record);
    let (text, dropped) = grid::render(&columns, &rows, &[], options.width, options.color);
    let mut out = text + &hidden_note(&dropped, options.width);
    out += &wrapped(detail::DENSITY_EXPLAINED, "  ", options.width);
    if with_unavailable {
        for (name, reason) in table::unavailable(record) {
            let line = format!("- {name}: unavailable: {reason}");
            out += &wrapped(&line, "  ", options.width);
        }
    }
    out
}

/// `line` word-wrapped to `width`, the first line after `indent`, the rest indented by four.
fn wrapped(line: &str, indent: &str, width: Option<usize>) -> String {
    const CONTINUATION: &str = "    ";
    let indent_width = indent.chars().count().max(CONTINUATION.len());
    let room = width.map_or(usize::MAX / 2, |w| w.saturating_sub(indent_width).max(20));
    let mut out = String::new();
    for (i, part) in grid::wrap(line, room).into_iter().enumerate() {
        out += if i == 0 { indent } else { CONTINUATION };
        out += &part;
        out += "\n";
    }
    out
}

fn main_table(record: &RunRecord, options: Options) -> String {
    let columns: Vec<Column> = table::HEADER
        .iter()
        .enumerate()
        .map(|(index, header)| {
            let column = Column::new(header);
            let column = if table::NUMERIC_COLUMNS.contains(&index) {
                column.right()
            } else {
                column
            };
            // Dropped first on a narrow terminal: the disk breakdown, the boundary (prose; the
            // comparison table names each class's), p95, teardown, kernel, class, launch CPU.
            match index {
                9 => column.droppable(0),
                12 => column.wrap(24).droppable(1),
                4 => column.droppable(2),
                10 => column.droppable(3),
                2 => column.droppable(4),
                1 => column.droppable(5),
                5 => column.droppable(6),
                _ => column,
            }
        })
        .collect();
    let rows: Vec<Vec<String>> = table::rows(record).into_iter().map(Vec::from).collect();
    let styles: Vec<Option<&str>> = record
        .isolators
        .iter()
        .map(|i| (!i.status.is_available()).then_some(DIM))
        .collect();
    let (text, dropped) = grid::render(&columns, &rows, &styles, options.width, options.color);
    text + &hidden_note(&dropped, options.width)
}

/// The "VMs vs containers" table: the OS tier (the headline), then the floor tier, each a
/// heading line, its table and its verdicts; a tier without VMs is its heading alone.
fn comparison_table(record: &RunRecord, options: Options) -> String {
    let comparison = comparison::compare(record);
    let title = "VMs vs containers, measured here (best isolator of each class, then the class median; * flagged):";
    let mut out = grid::paint(&wrapped(title, "", options.width), BOLD, options.color);
    for (index, tier) in comparison.tiers.iter().enumerate() {
        if index > 0 {
            out += "\n";
        }
        out += &grid::paint(
            &wrapped(&tier.heading(), "", options.width),
            BOLD,
            options.color,
        );
        if tier.vms.is_ok() {
            out += &tier_table(tier, options);
        }
    }
    out
}

fn tier_table(tier: &TierTable, options: Options) -> String {
    let mut columns = vec![Column::new("property").wrap(12)];
    columns.extend(CLASSES.iter().map(|&c| {
        let label = if c == Class::Vm {
            tier.tier.vm_label()
        } else {
            c.label()
        };
        Column::new(label).wrap(14)
    }));
    columns.push(Column::new("VM/container").right());
    // The property alone: a memory row's source is long, and its verdict line below says it.
    let rows: Vec<Vec<String>> = tier
        .rows
        .iter()
        .map(|row| {
            let mut cells = row.text_cells();
            cells[0] = row.property.label().to_string();
            cells
        })
        .collect();
    let (text, dropped) = grid::render(&columns, &rows, &[], options.width, options.color);
    let mut out = text + &hidden_note(&dropped, options.width);
    for row in &tier.rows {
        let verdict = format!("→ {}: {}", row.label(), row.verdict);
        out += &wrapped(&verdict, "  ", options.width);
    }
    out
}

fn hidden_note(dropped: &[String], width: Option<usize>) -> String {
    if dropped.is_empty() {
        return String::new();
    }
    let note = format!(
        "(too narrow for: {}; widen the terminal or see the Markdown/HTML report)",
        dropped.join(", ")
    );
    wrapped(&note, "  ", width)
}
