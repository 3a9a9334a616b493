//! The Markdown rendering: the same tables as the terminal, plus the host cost per instance,
//! per-isolator statistics and density points.
use crate::comparison::{self, Class, CLASSES};
use crate::schema::RunRecord;
use crate::{detail, table};

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
    if record.has_trials() {
        out += &trial_sections(record);
    }
    let host_cost = detail::host_cost_rows(record);
    if !host_cost.is_empty() {
        out += "\n## Host cost per instance\n\n";
        out += &format!("{}\n\n", escape(detail::HOST_COST_EXPLAINED));
        out += &pipe_table(&detail::HOST_COST_HEADER.map(String::from), &host_cost);
    }
    let statistics = detail::statistics_rows(record);
    if !statistics.is_empty() {
        out += "\n## Statistics\n\n";
        out += &pipe_table(&detail::STATISTICS_HEADER.map(String::from), &statistics);
    }
    if !record.density.is_empty() {
        out += "\n## Density\n\n";
        out += &format!("{}\n\n", escape(detail::DENSITY_EXPLAINED));
        out += &pipe_table(
            &detail::DENSITY_HEADER.map(String::from),
            &detail::density_rows(record),
        );
    }
    if !record.burst.is_empty() {
        out += "\n## Burst\n\n";
        out += &format!("{}\n\n", escape(crate::burst::EXPLAINED));
        out += &pipe_table(
            &crate::burst::HEADER.map(String::from),
            &crate::burst::rows(record),
        );
        for line in crate::burst::tail_lines(&record.burst) {
            out += &format!("\n- {}", escape(&line));
        }
        out += "\n";
    }
    out
}

/// The results table, what was not measured, and the VMs-vs-containers comparison in its tiers.
fn trial_sections(record: &RunRecord) -> String {
    let mut out = String::new();
    out += "## Results\n\n";
    out += &pipe_table(
        &table::HEADER.map(String::from),
        &table::rows(record)
            .into_iter()
            .map(Vec::from)
            .collect::<Vec<_>>(),
    );
    let mut legend = table::legend(record);
    legend.extend(table::footnotes(record));
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
        their own class; the ratio and the verdict compare VMs with containers, best against best. \
        Two tiers: VMs that boot a Linux kernel (the textbook's sense, the headline), then the bare \
        guest (no OS), the least a VM costs.\n";
    for tier in comparison::compare(record).tiers {
        out += &format!(
            "\n### {}\n\n{}\n",
            tier.tier.title(),
            escape(&tier.description())
        );
        if tier.vms.is_err() {
            continue;
        }
        let mut header = vec!["property".to_string()];
        header.extend(CLASSES.iter().map(|&c| match c {
            Class::Vm => tier.tier.vm_label().to_string(),
            c => c.label().to_string(),
        }));
        header.extend(["VM/container".to_string(), "verdict".to_string()]);
        let rows: Vec<Vec<String>> = tier
            .rows
            .into_iter()
            .map(|row| {
                let mut cells = row.text_cells();
                cells.push(row.verdict);
                cells
            })
            .collect();
        out += "\n";
        out += &pipe_table(&header, &rows);
    }
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
