//! The comparison table as plain text: one row per isolator × metric.
use super::{Comparison, Verdict};

/// A plain-text table of the comparisons.
pub fn render(comparisons: &[Comparison]) -> String {
    let mut out = format!(
        "{:<18} {:<16} {:>5} {:>14} {:>14} {:>9} {:>22}  verdict\n",
        "isolator", "metric", "runs", "base median", "new median", "change", "95% CI of change"
    );
    for c in comparisons {
        let verdict = match c.verdict {
            Verdict::Faster if c.metric == "footprint_bytes" => "smaller",
            Verdict::Slower if c.metric == "footprint_bytes" => "larger",
            Verdict::Faster => "faster",
            Verdict::Slower => "slower",
            Verdict::NoChange => "no change beyond noise",
        };
        out += &format!(
            "{:<18} {:<16} {:>5} {:>14.0} {:>14.0} {:>+8.1}% {:>+9.1}% … {:>+7.1}%  {verdict}\n",
            c.isolator,
            c.metric,
            format!("{}:{}", c.base_runs, c.new_runs),
            c.base_median,
            c.new_median,
            c.change * 100.0,
            c.change_ci_low * 100.0,
            c.change_ci_high * 100.0
        );
    }
    out
}
