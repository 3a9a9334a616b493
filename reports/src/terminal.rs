//! The terminal rendering: host, warnings, the results table and the "VMs vs containers" table.
use crate::comparison::{self, CLASSES};
use crate::schema::RunRecord;
use crate::table;

/// Renders the whole report as plain text (no colour codes).
pub fn render(record: &RunRecord) -> String {
    let mut out = String::new();
    out += &format!("host: {}\n", table::host_line(record));
    out += &format!("run:  {}\n", table::config_line(record));
    for warning in &record.warnings {
        out += &format!("  ! {}\n", warning.message);
    }
    out += "\n";
    let rows: Vec<Vec<String>> = table::rows(record).into_iter().map(Vec::from).collect();
    out += &aligned(&table::HEADER.map(String::from), &rows, &[3, 4, 5, 6, 7, 8]);
    for (name, reason) in table::unavailable(record) {
        out += &format!("  - {name}: unavailable: {reason}\n");
    }
    out += "\nVMs vs containers, measured here (best isolator of each class, class median in brackets):\n";
    let mut header = vec!["property".to_string()];
    header.extend(CLASSES.iter().map(|c| c.label().to_string()));
    header.push("VM/container".into());
    let rows: Vec<Vec<String>> = comparison::table(record)
        .into_iter()
        .map(|row| {
            let mut cells = vec![row.property.to_string()];
            cells.extend(row.cells.iter().map(|cell| match cell {
                Some(c) if c.best == c.median => c.best.clone(),
                Some(c) => format!("{} [{}]", c.best, c.median),
                None => "not measured".into(),
            }));
            cells.push(row.ratio.map_or("—".into(), crate::units::ratio));
            cells.push(format!("→ {}", row.verdict));
            cells
        })
        .collect();
    let mut header_with_verdict = header;
    header_with_verdict.push("verdict".into());
    out += &aligned(&header_with_verdict, &rows, &[4]);
    out
}

/// Left-aligned columns (right-aligned where listed), two spaces apart.
fn aligned(header: &[String], rows: &[Vec<String>], right: &[usize]) -> String {
    let columns = header.len();
    let width = |i: usize| {
        rows.iter()
            .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
            .chain([header[i].chars().count()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..columns).map(width).collect();
    let line = |cells: &[String]| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            let last = i + 1 == cells.len();
            if right.contains(&i) {
                text += &" ".repeat(pad);
                text += cell;
            } else {
                text += cell;
                if !last {
                    text += &" ".repeat(pad);
                }
            }
            if !last {
                text += "  ";
            }
        }
        text.trim_end().to_string() + "\n"
    };
    let mut out = line(header);
    out += &line(&widths.iter().map(|w| "─".repeat(*w)).collect::<Vec<_>>());
    for row in rows {
        out += &line(row);
    }
    out
}
