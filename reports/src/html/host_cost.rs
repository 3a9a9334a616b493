//! The HTML report's host-cost section: the stacked chart of what one instance cost the whole
//! host and, under it, the table of the numbers. Present only when some isolator has host cost.
use super::sections::{escaped, html_table};
use super::{escape, figure};
use crate::charts::{self, Chart};
use crate::detail;
use crate::schema::RunRecord;

/// The section, or nothing when the record has no host-cost data.
pub(super) fn section(record: &RunRecord, charts: &[Chart]) -> String {
    let rows = detail::host_cost_rows(record);
    if rows.is_empty() {
        return String::new();
    }
    let chart = charts
        .iter()
        .find(|c| c.file_name == charts::host_cost::FILE_NAME)
        .map(figure)
        .unwrap_or_default();
    format!(
        "<section id=\"host-cost\">\n<h2>Host cost per instance</h2>\n<p>{}</p>\n{chart}{}</section>\n",
        escape(detail::HOST_COST_EXPLAINED),
        html_table(
            &detail::HOST_COST_HEADER,
            &escaped(rows),
            &detail::HOST_COST_NUMERIC.collect::<Vec<_>>()
        )
    )
}
