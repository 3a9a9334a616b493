//! The HTML report's sections, each a string of HTML built from the record (every record string escaped).
use super::escape;
use crate::comparison::{self, Class, TierTable, CLASSES};
use crate::schema::RunRecord;
use crate::{detail, table, units};

/// A table with a header row; `numeric` marks right-aligned columns. Cells are already HTML.
pub(super) fn html_table(header: &[&str], rows: &[Vec<String>], numeric: &[usize]) -> String {
    let mut out = String::from("<table>\n<tr>");
    for cell in header {
        out += &format!("<th>{}</th>", escape(cell));
    }
    out += "</tr>\n";
    for row in rows {
        out += "<tr>";
        for (i, cell) in row.iter().enumerate() {
            let class = if numeric.contains(&i) {
                " class=\"num\""
            } else {
                ""
            };
            out += &format!("<td{class}>{cell}</td>");
        }
        out += "</tr>\n";
    }
    out + "</table>\n"
}

/// The host fingerprint: the one-line summary, the run settings, then every field.
pub(super) fn host(record: &RunRecord) -> String {
    let h = &record.host;
    let mut out = format!(
        "<section id=\"host\">\n<p class=\"host\">{}</p>\n<p>{}</p>\n<dl class=\"host-fields\">\n",
        escape(&table::host_line(record)),
        escape(&table::config_line(record))
    );
    let mut field = |name: &str, value: String| {
        out += &format!("<dt>{}</dt><dd>{}</dd>\n", escape(name), escape(&value));
    };
    field("hostname", h.hostname.clone());
    field("OS", h.os.clone());
    field("kernel", h.kernel.clone());
    field("CPU", format!("{} × {}", h.cores, h.cpu_model));
    field("memory", units::bytes(h.memory_total_bytes as f64));
    field(
        "cgroups",
        format!("{} — {}", h.cgroup_mode, h.cgroup_detail),
    );
    field("KVM", format!("{} — {}", h.kvm_provider, h.kvm_detail));
    field("root", if h.is_root { "yes" } else { "no" }.into());
    field(
        "load average (1 min)",
        format!(
            "{:.2} at start, {:.2} at end",
            h.loadavg_start, h.loadavg_end
        ),
    );
    if let Some(other) = h.other_runnable_mean {
        field(
            "other work",
            format!("{other:.2} tasks besides isobench runnable, on average"),
        );
    }
    field("isolators asked for", record.config.isolators.join(", "));
    if let Some(user) = &record.config.user_workload {
        field("your workload", user.summary());
        field(
            "its readiness",
            format!(
                "{} within {} ms; stop grace {} ms; environment {}",
                user.ready,
                user.ready_timeout_ms,
                user.stop_grace_ms,
                match user.env_keys.is_empty() {
                    true => "(none added)".to_string(),
                    false => user.env_keys.join(", "),
                }
            ),
        );
    }
    field(
        "timeout",
        format!("{} ms per trial", record.config.timeout_ms),
    );
    field(
        "run",
        format!(
            "started {}, last written {}",
            record.started_at, record.updated_at
        ),
    );
    for (tool, version) in &h.tool_versions {
        field(tool, version.clone());
    }
    out + "</dl>\n</section>\n"
}

/// Validity warnings, prominent; an incomplete run is one too.
pub(super) fn warnings(record: &RunRecord) -> String {
    let mut items: Vec<String> = record
        .warnings
        .iter()
        .map(|w| {
            let about = w
                .isolator
                .as_ref()
                .map(|i| format!("<b>{}</b>: ", escape(i)))
                .unwrap_or_default();
            format!(
                "<li><span class=\"code\">{}</span>{about}{}</li>",
                escape(w.code.as_str()),
                escape(&w.message)
            )
        })
        .collect();
    if !record.complete {
        items.insert(0, "<li><span class=\"code\">incomplete</span>this run was interrupted or is still in progress: some isolators may be missing or have fewer trials</li>".into());
    }
    if items.is_empty() {
        return "<p class=\"ok\">No validity warnings for this run.</p>\n".into();
    }
    format!(
        "<section class=\"warnings\" id=\"warnings\">\n<h2>⚠ Read these before the numbers</h2>\n<ul>\n{}\n</ul>\n</section>\n",
        items.join("\n")
    )
}

pub(super) fn raw_links(links: &[(&str, &str)]) -> String {
    if links.is_empty() {
        return String::new();
    }
    let anchors: Vec<String> = links
        .iter()
        .map(|(label, href)| format!("<a href=\"{}\">{}</a>", escape(href), escape(label)))
        .collect();
    format!("<p class=\"links\">Raw data: {}</p>\n", anchors.join(" "))
}

/// The "VMs vs containers" table in its two tiers, the OS tier (the headline) first.
pub(super) fn comparison(record: &RunRecord) -> String {
    let tiers: String = comparison::compare(record)
        .tiers
        .iter()
        .map(tier_table)
        .collect();
    format!(
        "<section id=\"comparison\">\n<h2>VMs vs containers, measured here</h2>\n<p>The textbook table, answered on this host: the best isolator of each class, with the class median below it. Sandboxes (a user-space kernel in front of the host's) are their own class; the ratio and the verdict compare VMs with containers, best against best. Two tiers: VMs that boot a Linux kernel (the textbook's sense, the headline), then the bare guest (no OS), the least a VM costs. {} marks isolators whose numbers are flagged.</p>\n{tiers}</section>\n",
        table::FLAG_MARKER,
    )
}

fn tier_table(tier: &TierTable) -> String {
    let heading = format!(
        "<h3 id=\"tier-{}\">{}</h3>\n<p>{}</p>\n",
        tier.tier.key(),
        escape(tier.tier.title()),
        escape(&tier.description())
    );
    if tier.vms.is_err() {
        return heading;
    }
    let mut header = vec!["property"];
    header.extend(CLASSES.iter().map(|&c| match c {
        Class::Vm => tier.tier.vm_label(),
        c => c.label(),
    }));
    header.extend(["VM / container", "verdict"]);
    let rows: Vec<Vec<String>> = tier
        .rows
        .iter()
        .map(|row| {
            let mut label = escape(row.property.label());
            if let Some(source) = &row.source {
                label += &format!("<br><small>{}</small>", escape(source));
            }
            let mut cells = vec![label];
            cells.extend(row.cells.iter().map(|cell| match cell {
                None => format!("<span class=\"note\">{}</span>", comparison::NOT_MEASURED),
                Some(c) => {
                    let mut html = escape(&c.best);
                    if let Some(name) = &c.best_isolator {
                        let mark = if c.flagged { table::FLAG_MARKER } else { "" };
                        let emulated = if c.emulated { ", emulated" } else { "" };
                        html += &format!(" <small>({}{mark}{emulated})</small>", escape(name));
                    }
                    if let Some(median) = &c.median {
                        html += &format!("<br><small>class median {}</small>", escape(median));
                    }
                    html
                }
            }));
            cells.push(row.ratio.map_or("—".into(), |r| escape(&units::ratio(r))));
            let class = if row.verdict.contains("software KVM") || row.verdict.contains("emulated")
            {
                "verdict flag"
            } else {
                "verdict"
            };
            cells.push(format!(
                "<div class=\"{class}\">{}</div>",
                escape(&row.verdict)
            ));
            cells
        })
        .collect();
    heading + &html_table(&header, &rows, &[4])
}

pub(super) fn main_table(record: &RunRecord) -> String {
    let rows: Vec<Vec<String>> = table::rows(record)
        .into_iter()
        .map(|row| row.iter().map(|c| escape(c)).collect())
        .collect();
    let mut legend: String = table::legend(record)
        .iter()
        .map(|line| format!("<p class=\"flag\">{}</p>\n", escape(line)))
        .collect();
    legend.extend(
        table::footnotes(record)
            .iter()
            .map(|line| format!("<p class=\"note\">{}</p>\n", escape(line))),
    );
    format!(
        "<section id=\"results\">\n<h2>Results</h2>\n{}{legend}</section>\n",
        html_table(&table::HEADER, &rows, &table::NUMERIC_COLUMNS)
    )
}

pub(super) fn statistics(record: &RunRecord) -> String {
    let rows = escaped(detail::statistics_rows(record));
    if rows.is_empty() {
        return String::new();
    }
    format!(
        "<section id=\"statistics\">\n<h2>Statistics</h2>\n<p>Over the measured trials (warm-ups excluded). CI: 95% confidence interval of the median from order statistics; CV: σ / mean; outliers: robust z-score above 3.5.</p>\n{}</section>\n",
        html_table(
            &detail::STATISTICS_HEADER,
            &rows,
            &detail::STATISTICS_NUMERIC.collect::<Vec<_>>()
        )
    )
}

pub(super) fn escaped(rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    rows.into_iter()
        .map(|row| row.iter().map(|cell| escape(cell)).collect())
        .collect()
}

/// Median time since launch of each named startup phase.
pub(super) fn phases(record: &RunRecord) -> String {
    let mut names: Vec<&str> = Vec::new();
    for isolator in &record.isolators {
        for phase in isolator.samples.iter().flat_map(|s| &s.phases) {
            if !names.contains(&phase.name.as_str()) {
                names.push(&phase.name);
            }
        }
    }
    let rows: Vec<Vec<String>> = record
        .isolators
        .iter()
        .filter_map(|i| {
            let medians = &i.summary.as_ref()?.phase_medians_ns;
            if medians.is_empty() {
                return None;
            }
            let mut row = vec![escape(&i.name)];
            row.extend(names.iter().map(|n| {
                medians
                    .get(*n)
                    .map_or("—".into(), |v| escape(&units::duration_ns(*v)))
            }));
            Some(row)
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    let mut header = vec!["isolator"];
    header.extend(names.iter().copied());
    format!(
        "<section id=\"phases\">\n<h2>Startup phases</h2>\n<p>Median time since launch at which each phase was reached.</p>\n{}</section>\n",
        html_table(&header, &rows, &(1..header.len()).collect::<Vec<_>>())
    )
}

/// Per-isolator notes, flags and failed trials.
pub(super) fn notes(record: &RunRecord) -> String {
    let mut items = Vec::new();
    for i in record.isolators.iter().filter(|i| i.status.is_available()) {
        let mut parts: Vec<String> = Vec::new();
        if !i.version.is_empty() {
            parts.push(format!("version {}", escape(&i.version)));
        }
        parts.extend(
            i.flags
                .iter()
                .map(|f| format!("<span class=\"flag\">flagged {}</span>", escape(f.as_str()))),
        );
        parts.extend(i.notes.iter().map(|n| escape(n)));
        if !i.failures.is_empty() {
            let shown: Vec<String> = i
                .failures
                .iter()
                .take(5)
                .map(|f| format!("trial {}: {}", f.trial, escape(&f.message)))
                .collect();
            parts.push(format!(
                "{} failed trial(s): {}",
                i.failures.len(),
                shown.join("; ")
            ));
        }
        if !parts.is_empty() {
            items.push(format!(
                "<li><b>{}</b>: {}</li>",
                escape(&i.name),
                parts.join(" · ")
            ));
        }
    }
    if items.is_empty() {
        return String::new();
    }
    format!(
        "<section id=\"notes\">\n<h2>Isolator notes</h2>\n<ul>\n{}\n</ul>\n</section>\n",
        items.join("\n")
    )
}

pub(super) fn unavailable(record: &RunRecord) -> String {
    let items: Vec<String> = table::unavailable(record)
        .iter()
        .map(|(name, reason)| format!("<li><b>{}</b>: {}</li>", escape(name), escape(reason)))
        .collect();
    if items.is_empty() {
        return String::new();
    }
    format!(
        "<section id=\"unavailable\">\n<h2>Not measured</h2>\n<ul>\n{}\n</ul>\n</section>\n",
        items.join("\n")
    )
}

pub(super) fn density(record: &RunRecord) -> String {
    if record.density.is_empty() {
        return String::new();
    }
    format!(
        "<section id=\"density\">\n<h2>Density</h2>\n<p>{}</p>\n{}</section>\n",
        escape(detail::DENSITY_EXPLAINED),
        html_table(
            &detail::DENSITY_HEADER,
            &escaped(detail::density_rows(record)),
            &detail::DENSITY_NUMERIC.collect::<Vec<_>>()
        )
    )
}

pub(super) fn burst(record: &RunRecord) -> String {
    if record.burst.is_empty() {
        return String::new();
    }
    let tail: String = crate::burst::tail_lines(&record.burst)
        .iter()
        .map(|line| format!("<li>{}</li>", escape(line)))
        .collect();
    format!(
        "<section id=\"burst\">\n<h2>Burst</h2>\n<p>{}</p>\n{}<ul>{tail}</ul>\n</section>\n",
        escape(crate::burst::EXPLAINED),
        html_table(
            &crate::burst::HEADER,
            &escaped(crate::burst::rows(record)),
            &crate::burst::NUMERIC.collect::<Vec<_>>()
        )
    )
}
