//! `isobench compare`: did a metric change between two builds (or hosts) beyond noise?
//!
//! Each side is one or more runs. For each isolator and metric both sides have: the change of
//! the pooled median, a 95% bootstrap confidence interval of that change, and a verdict. A
//! change counts only when its interval excludes zero *and* it exceeds the noise threshold.
//!
//! With several runs per side the bootstrap has two stages: it resamples whole runs, then
//! samples within them, so the interval also covers run-to-run drift (a shared host's load,
//! frequency, caches), which no amount of samples inside one run can show. Alternating the
//! two builds' runs in a balanced order (A B B A) and passing each side's files is how two runs of one build
//! come out "no change" on a shared machine. With one run per side the interval covers
//! sample noise only, and a caveat says so.
mod burst;
mod caveats;
mod density;

pub use caveats::caveats;
pub use reports::compare::{Comparison, Verdict};

use reports::{RunRecord, Sample};

use crate::stats::quantile;

/// Bootstrap resamples per comparison; enough for stable 2.5/97.5 percentiles.
const RESAMPLES: usize = 2000;

/// A per-sample quantity; `None` where a sample lacks it.
type Metric = (&'static str, fn(&Sample) -> Option<f64>);

const METRICS: [Metric; 4] = [
    ("startup_ns", |s| Some(s.startup_ns as f64)),
    ("teardown_ns", |s| Some(s.teardown_ns as f64)),
    ("footprint_bytes", |s| Some(s.memory.footprint_bytes as f64)),
    // The probe's own timing of its workload: the runtime-overhead figure.
    ("work_ns", work_ns),
];

/// `work_ns` from the probe's report; `None` for `noop` (it times nothing) or without it.
fn work_ns(sample: &Sample) -> Option<f64> {
    if sample.probe_report.get("mode").is_some_and(|m| m == "noop") {
        return None;
    }
    sample.probe_report.get("work_ns")?.parse().ok()
}

/// Compares every isolator both sides measured. `noise` is the smallest change (fraction)
/// that counts, e.g. 0.05 for 5%. The bootstrap is seeded: the same files, the same answer.
pub fn compare(base: &[RunRecord], new: &[RunRecord], noise: f64) -> Vec<Comparison> {
    let mut rng = fastrand::Rng::with_seed(0x15_0be7c4);
    let mut names: Vec<&str> = Vec::new();
    for isolator in new.iter().flat_map(|r| &r.isolators) {
        if !names.contains(&isolator.name.as_str()) {
            names.push(&isolator.name);
        }
    }
    let mut out = Vec::new();
    for name in names {
        for (metric, value) in METRICS {
            let base_runs = per_run_values(base, name, value);
            let new_runs = per_run_values(new, name, value);
            if base_runs.is_empty() || new_runs.is_empty() {
                continue;
            }
            out.push(compare_metric(
                name, metric, &base_runs, &new_runs, noise, &mut rng,
            ));
        }
    }
    out.extend(density::compare_density(base, new, noise, &mut rng));
    out.extend(burst::compare_burst(base, new, noise, &mut rng));
    out
}

/// One vector of values per run that has samples of `isolator` with this metric.
fn per_run_values(
    runs: &[RunRecord],
    isolator: &str,
    value: fn(&Sample) -> Option<f64>,
) -> Vec<Vec<f64>> {
    runs.iter()
        .filter_map(|run| run.isolator(isolator))
        .map(|i| i.samples.iter().filter_map(value).collect::<Vec<f64>>())
        .filter(|values| !values.is_empty())
        .collect()
}

fn compare_metric(
    isolator: &str,
    metric: &'static str,
    base: &[Vec<f64>],
    new: &[Vec<f64>],
    noise: f64,
    rng: &mut fastrand::Rng,
) -> Comparison {
    compare_statistic(isolator, metric, (base, new), noise, rng, median)
}

/// As [`compare_metric`] for any statistic of the pooled values (a median, a p99); the
/// comparison's `base_median`/`new_median` then hold that statistic.
fn compare_statistic(
    isolator: &str,
    metric: &'static str,
    (base, new): (&[Vec<f64>], &[Vec<f64>]),
    noise: f64,
    rng: &mut fastrand::Rng,
    statistic: fn(&[f64]) -> f64,
) -> Comparison {
    let base_median = statistic(&base.concat());
    let new_median = statistic(&new.concat());
    let change = relative_change(base_median, new_median);
    let mut changes: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            let (b, n) = (resample(base, rng), resample(new, rng));
            relative_change(statistic(&b), statistic(&n))
        })
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
        base_runs: base.len(),
        new_runs: new.len(),
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

/// One bootstrap replicate of a side: with several runs, runs are drawn with replacement and
/// then samples within each drawn run; with one run, its samples.
fn resample(runs: &[Vec<f64>], rng: &mut fastrand::Rng) -> Vec<f64> {
    let draw = |values: &[f64], rng: &mut fastrand::Rng| -> Vec<f64> {
        (0..values.len())
            .map(|_| values[rng.usize(..values.len())])
            .collect()
    };
    match runs {
        [one] => draw(one, rng),
        _ => (0..runs.len())
            .flat_map(|_| draw(&runs[rng.usize(..runs.len())], rng))
            .collect(),
    }
}

/// The comparisons that regress by more than `limit` (fraction) with a significant change.
pub fn regressions(comparisons: &[Comparison], limit: f64) -> Vec<&Comparison> {
    comparisons
        .iter()
        .filter(|c| c.verdict == Verdict::Slower && c.change > limit)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noisy(center: f64, n: usize, seed: u64) -> Vec<f64> {
        let mut rng = fastrand::Rng::with_seed(seed);
        (0..n).map(|_| center * (0.9 + 0.2 * rng.f64())).collect()
    }

    fn verdict(base: &[Vec<f64>], new: &[Vec<f64>]) -> Comparison {
        let mut rng = fastrand::Rng::with_seed(1);
        compare_metric("p", "startup_ns", base, new, 0.05, &mut rng)
    }

    #[test]
    fn detects_a_twenty_percent_slowdown() {
        let c = verdict(&[noisy(1000.0, 30, 2)], &[noisy(1200.0, 30, 3)]);
        assert_eq!(c.verdict, Verdict::Slower, "{c:?}");
        assert!(c.change > 0.1 && c.change < 0.3);
    }

    #[test]
    fn same_distribution_is_no_change() {
        let c = verdict(&[noisy(1000.0, 30, 4)], &[noisy(1000.0, 30, 5)]);
        assert_eq!(c.verdict, Verdict::NoChange, "{c:?}");
    }

    #[test]
    fn detects_a_speedup() {
        let c = verdict(&[noisy(1000.0, 30, 6)], &[noisy(700.0, 30, 7)]);
        assert_eq!(c.verdict, Verdict::Faster);
    }

    #[test]
    fn run_to_run_drift_widens_the_interval_instead_of_making_a_verdict() {
        // Both sides are the same build on a drifting host: runs sit at 0.9×, 1.0× and 1.12×.
        let drifting = |seed: u64| -> Vec<Vec<f64>> {
            [900.0, 1000.0, 1120.0]
                .iter()
                .zip(seed..)
                .map(|(&level, s)| noisy(level, 30, s))
                .collect()
        };
        let (base, new) = (drifting(10), drifting(20));
        // Pooled by run, the same build is no change ...
        let c = verdict(&base, &new[1..]);
        assert_eq!(c.verdict, Verdict::NoChange, "{c:?}");
        assert!(c.change_ci_high - c.change_ci_low > 0.1, "{c:?}");
        // ... while single runs taken at two drift levels look like a change.
        let single = verdict(&base[..1], &new[2..]);
        assert_eq!(single.verdict, Verdict::Slower, "{single:?}");
        // And a real 30% slowdown still stands out of the drift.
        let slow: Vec<Vec<f64>> = base
            .iter()
            .map(|run| run.iter().map(|v| v * 1.3).collect())
            .collect();
        assert_eq!(verdict(&base, &slow).verdict, Verdict::Slower);
    }
}
