//! `isobench compare` as text: the types a comparison of two sets of runs produces (computed by
//! the harness: pooled medians, bootstrap intervals, verdicts) and their plain-text table.

/// Whether a metric changed between the base and the new runs, beyond noise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Faster,
    Slower,
    NoChange,
    /// Too few values per side to trust an interval (density points from few runs): a verdict
    /// needs `runs_needed` runs per side.
    NoInterval {
        runs_needed: usize,
    },
}

/// One isolator × metric comparison.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub isolator: String,
    pub metric: &'static str,
    /// Runs on each side that had samples of this isolator.
    pub base_runs: usize,
    pub new_runs: usize,
    pub base_median: f64,
    pub new_median: f64,
    /// (new − base) / base, as a fraction.
    pub change: f64,
    pub change_ci_low: f64,
    pub change_ci_high: f64,
    /// "lower is better" metrics all: Slower means a regression.
    pub verdict: Verdict,
}

/// The caveats (`! …`, one line each), then one row per isolator × metric.
pub fn render(caveats: &[String], comparisons: &[Comparison]) -> String {
    let mut out: String = caveats.iter().map(|c| format!("! {c}\n")).collect();
    out += &format!(
        "{:<22} {:<18} {:>5} {:>14} {:>14} {:>9} {:>22}  verdict\n",
        "isolator", "metric", "runs", "base median", "new median", "change", "95% CI of change"
    );
    for c in comparisons {
        let bytes = c.metric.ends_with("_bytes");
        let verdict = match c.verdict {
            Verdict::Faster if bytes => "smaller".to_string(),
            Verdict::Slower if bytes => "larger".to_string(),
            Verdict::Faster => "faster".to_string(),
            Verdict::Slower => "slower".to_string(),
            Verdict::NoChange => "no change beyond noise".to_string(),
            Verdict::NoInterval { runs_needed } => format!(
                "no verdict: a density point is one value per run; pass {runs_needed} or more runs per side"
            ),
        };
        let interval = match c.verdict {
            Verdict::NoInterval { .. } => format!("{:>22}", "—"),
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
