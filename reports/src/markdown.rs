//! The Markdown rendering: the same tables as the terminal, plus per-isolator statistics.
use crate::comparison::{self, CLASSES};
use crate::schema::{RunRecord, Summary};
use crate::{table, units};

pub fn render(record: &RunRecord) -> String {
    let mut out = String::from("# isobench results\n\n");
    out += &format!(
        "**Host:** {}  \n**Run:** {}\n\n",
        escape(&table::host_line(record)),
        escape(&table::config_line(record))
    );
    if !record.warnings.is_empty() {
        out += "## Warnings\n\n";
        for warning in &record.warnings {
            let about = warning
                .isolator
                .as_ref()
                .map(|i| format!(" ({})", escape(i)))
                .unwrap_or_default();
            out += &format!(
                "- ⚠ `{}`{about}: {}\n",
                warning.code,
                escape(&warning.message)
            );
        }
        out += "\n";
    }
    out += "## Results\n\n";
    out += &pipe_table(
        &table::HEADER.map(String::from),
        &table::rows(record)
            .into_iter()
            .map(Vec::from)
            .collect::<Vec<_>>(),
    );
    let legend = table::legend(record);
    if !legend.is_empty() {
        out += "\n";
        for line in legend {
            out += &format!("{}  \n", escape(&line));
        }
    }
    let unavailable = table::unavailable(record);
    if !unavailable.is_empty() {
        out += "\nNot measured:\n\n";
        for (name, reason) in unavailable {
            out += &format!("- **{name}**: {}\n", escape(&reason));
        }
    }
    out += "\n## VMs vs containers, measured here\n\n";
    out += "Best isolator of each class, then the class median. Sandboxes (a user-space kernel) are \
        their own class; the ratio and the verdict compare VMs with containers, best against best.\n\n";
    let mut header = vec!["property".to_string()];
    header.extend(CLASSES.iter().map(|c| c.label().to_string()));
    header.extend(["VM/container".to_string(), "verdict".to_string()]);
    let rows: Vec<Vec<String>> = comparison::compare(record)
        .rows
        .into_iter()
        .map(|row| {
            let mut cells = vec![row.property.label().to_string()];
            cells.extend(row.cells.iter().map(|cell| {
                cell.as_ref()
                    .map_or(comparison::NOT_MEASURED.to_string(), |c| c.text())
            }));
            cells.push(row.ratio.map_or("—".into(), units::ratio));
            cells.push(row.verdict);
            cells
        })
        .collect();
    out += &pipe_table(&header, &rows);
    out += "\n## Statistics\n\n";
    let header: Vec<String> = [
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
        "outliers",
    ]
    .map(String::from)
    .into();
    let mut rows = Vec::new();
    for isolator in record.isolators.iter().filter(|i| i.summary.is_some()) {
        let s = isolator.summary.as_ref().expect("filtered");
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
    }
    out += &pipe_table(&header, &rows);
    out
}

fn pipe_table(header: &[String], rows: &[Vec<String>]) -> String {
    let line = |cells: &[String]| {
        format!(
            "| {} |\n",
            cells
                .iter()
                .map(|c| escape(c))
                .collect::<Vec<_>>()
                .join(" | ")
        )
    };
    let mut out = line(header);
    out += &format!("|{}\n", "---|".repeat(header.len()));
    for row in rows {
        out += &line(row);
    }
    out
}

/// Escapes what would break a table cell, start emphasis or read as an HTML tag.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '|' | '*' | '<' | '>' | '`' | '[' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
