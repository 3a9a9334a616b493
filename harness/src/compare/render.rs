//! The comparison table as plain text: one row per isolator × metric.
use super::{Comparison, Verdict};

/// A plain-text table of the comparisons.
pub fn render(comparisons: &[Comparison]) -> String {
    let mut out = format!(
        "{:<22} {:<18} {:>5} {:>14} {:>14} {:>9} {:>22}  verdict\n",
        "isolator", "metric", "runs", "base median", "new median", "change", "95% CI of change"
    );
    let no_interval = format!(
        "no verdict: a density point is one value per run; pass {} or more runs per side",
        super::density::MIN_RUNS
    );
    for c in comparisons {
        let bytes = c.metric.ends_with("_bytes");
        let verdict = match c.verdict {
            Verdict::Faster if bytes => "smaller",
            Verdict::Slower if bytes => "larger",
            Verdict::Faster => "faster",
            Verdict::Slower => "slower",
            Verdict::NoChange => "no change beyond noise",
            Verdict::NoInterval => &no_interval,
        };
        let interval = match c.verdict {
            Verdict::NoInterval => format!("{:>22}", "—"),
            _ => format!(
                "{:>+9.1}% … {:>+7.1}%",
                c.change_ci_low * 100.0,
                c.change_ci_high * 100.0
            ),
        };
        out += &format!(
            "{:<22} {:<18} {:>5} {:>14.0} {:>14.0} {:>+8.1}% {interval}  {verdict}\n",
            c.isolator,
            c.metric,
            format!("{}:{}", c.base_runs, c.new_runs),
            c.base_median,
            c.new_median,
            c.change * 100.0,
        );
    }
    out
}
