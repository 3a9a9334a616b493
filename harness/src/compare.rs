//! `isobench compare`: did a metric change between two runs beyond noise?
//!
//! For each isolator and metric present in both runs: the change of the median, a 95%
//! bootstrap confidence interval of that change (resampling both runs' raw samples), and a
//! verdict. A change counts only when its interval excludes zero *and* it exceeds the noise
//! threshold, so two runs of the same build say "no change".
use reports::{RunRecord, Sample};

use crate::stats::quantile;

/// Bootstrap resamples per comparison; enough for stable 2.5/97.5 percentiles.
const RESAMPLES: usize = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Faster,
    Slower,
    NoChange,
}

/// One isolator × metric comparison.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub isolator: String,
    pub metric: &'static str,
    pub base_median: f64,
    pub new_median: f64,
    /// (new − base) / base, as a fraction.
    pub change: f64,
    pub change_ci_low: f64,
    pub change_ci_high: f64,
    /// "lower is better" metrics all: Slower means a regression.
    pub verdict: Verdict,
}

type Metric = (&'static str, fn(&Sample) -> f64);

const METRICS: [Metric; 3] = [
    ("startup_ns", |s| s.startup_ns as f64),
    ("teardown_ns", |s| s.teardown_ns as f64),
    ("footprint_bytes", |s| s.memory.footprint_bytes as f64),
];

/// Compares every isolator the two runs share. `noise` is the smallest change (fraction) that
/// counts, e.g. 0.05 for 5%. The bootstrap is seeded, so the same files give the same answer.
pub fn compare(base: &RunRecord, new: &RunRecord, noise: f64) -> Vec<Comparison> {
    let mut rng = fastrand::Rng::with_seed(0x15_0be7c4);
    let mut out = Vec::new();
    for new_isolator in &new.isolators {
        let Some(base_isolator) = base.isolator(&new_isolator.name) else {
            continue;
        };
        for (metric, value) in METRICS {
            let base_values: Vec<f64> = base_isolator.samples.iter().map(value).collect();
            let new_values: Vec<f64> = new_isolator.samples.iter().map(value).collect();
            if base_values.is_empty() || new_values.is_empty() {
                continue;
            }
            out.push(compare_metric(
                &new_isolator.name,
                metric,
                &base_values,
                &new_values,
                noise,
                &mut rng,
            ));
        }
    }
    out
}

fn compare_metric(
    isolator: &str,
    metric: &'static str,
    base: &[f64],
    new: &[f64],
    noise: f64,
    rng: &mut fastrand::Rng,
) -> Comparison {
    let base_median = median(base);
    let new_median = median(new);
    let change = relative_change(base_median, new_median);
    let mut changes: Vec<f64> = (0..RESAMPLES)
        .map(|_| relative_change(median(&resample(base, rng)), median(&resample(new, rng))))
        .collect();
    changes.sort_by(|a, b| a.total_cmp(b));
    let (low, high) = (quantile(&changes, 0.025), quantile(&changes, 0.975));
    let verdict = if low > 0.0 && change > noise {
        Verdict::Slower
    } else if high < 0.0 && change < -noise {
        Verdict::Faster
    } else {
        Verdict::NoChange
    };
    Comparison {
        isolator: isolator.to_string(),
        metric,
        base_median,
        new_median,
        change,
        change_ci_low: low,
        change_ci_high: high,
        verdict,
    }
}

fn relative_change(base: f64, new: f64) -> f64 {
    if base == 0.0 {
        0.0
    } else {
        (new - base) / base
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    quantile(&sorted, 0.5)
}

fn resample(values: &[f64], rng: &mut fastrand::Rng) -> Vec<f64> {
    (0..values.len())
        .map(|_| values[rng.usize(..values.len())])
        .collect()
}

/// The comparisons that regress by more than `limit` (fraction) with a significant change.
pub fn regressions(comparisons: &[Comparison], limit: f64) -> Vec<&Comparison> {
    comparisons
        .iter()
        .filter(|c| c.verdict == Verdict::Slower && c.change > limit)
        .collect()
}

/// A plain-text table of the comparisons.
pub fn render(comparisons: &[Comparison]) -> String {
    let mut out = format!(
        "{:<18} {:<16} {:>14} {:>14} {:>9} {:>22}  verdict\n",
        "isolator", "metric", "base median", "new median", "change", "95% CI of change"
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
            "{:<18} {:<16} {:>14.0} {:>14.0} {:>+8.1}% {:>+9.1}% … {:>+7.1}%  {verdict}\n",
            c.isolator,
            c.metric,
            c.base_median,
            c.new_median,
            c.change * 100.0,
            c.change_ci_low * 100.0,
            c.change_ci_high * 100.0
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noisy(center: f64, n: usize, seed: u64) -> Vec<f64> {
        let mut rng = fastrand::Rng::with_seed(seed);
        (0..n).map(|_| center * (0.9 + 0.2 * rng.f64())).collect()
    }

    #[test]
    fn detects_a_twenty_percent_slowdown() {
        let mut rng = fastrand::Rng::with_seed(1);
        let c = compare_metric(
            "p",
            "startup_ns",
            &noisy(1000.0, 30, 2),
            &noisy(1200.0, 30, 3),
            0.05,
            &mut rng,
        );
        assert_eq!(c.verdict, Verdict::Slower, "{c:?}");
        assert!(c.change > 0.1 && c.change < 0.3);
    }

    #[test]
    fn same_distribution_is_no_change() {
        let mut rng = fastrand::Rng::with_seed(1);
        let c = compare_metric(
            "p",
            "startup_ns",
            &noisy(1000.0, 30, 4),
            &noisy(1000.0, 30, 5),
            0.05,
            &mut rng,
        );
        assert_eq!(c.verdict, Verdict::NoChange, "{c:?}");
    }

    #[test]
    fn detects_a_speedup() {
        let mut rng = fastrand::Rng::with_seed(1);
        let c = compare_metric(
            "p",
            "startup_ns",
            &noisy(1000.0, 30, 6),
            &noisy(700.0, 30, 7),
            0.05,
            &mut rng,
        );
        assert_eq!(c.verdict, Verdict::Faster);
    }
}
