//! Burst points in `compare`: per isolator and load (`container 16 in flight`), the latency's
//! p50 and p99 from the raw samples, with the same bootstrap and verdicts as run records. A
//! tail quantile moves more between runs than a median; pass several runs per side.
use reports::{BurstPoint, RunRecord};

use super::{compare_statistic, median, Comparison};
use crate::stats::quantile;

type BurstMetric = (&'static str, fn(&[f64]) -> f64);

const BURST_METRICS: [BurstMetric; 2] = [("latency_p50_ns", median), ("latency_p99_ns", p99)];

fn p99(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    quantile(&sorted, 0.99)
}

/// Compares every (isolator, load) both sides measured with samples.
pub(super) fn compare_burst(
    base: &[RunRecord],
    new: &[RunRecord],
    noise: f64,
    rng: &mut fastrand::Rng,
) -> Vec<Comparison> {
    let mut keys: Vec<(&str, &reports::BurstLoad)> = Vec::new();
    for point in new.iter().flat_map(|r| &r.burst) {
        if !keys
            .iter()
            .any(|(i, l)| *i == point.isolator && l.key() == point.load.key())
        {
            keys.push((&point.isolator, &point.load));
        }
    }
    let mut out = Vec::new();
    for (isolator, load) in keys {
        let base_runs = per_run(base, isolator, &load.key());
        let new_runs = per_run(new, isolator, &load.key());
        if base_runs.is_empty() || new_runs.is_empty() {
            continue;
        }
        let label = format!("{isolator} {}", load.label());
        for (metric, statistic) in BURST_METRICS {
            out.push(compare_statistic(
                &label,
                metric,
                (&base_runs, &new_runs),
                noise,
                rng,
                statistic,
            ));
        }
    }
    out
}

/// The latencies of each run's point for (isolator, load key), for runs that have one.
fn per_run(runs: &[RunRecord], isolator: &str, key: &str) -> Vec<Vec<f64>> {
    runs.iter()
        .filter_map(|run| {
            run.burst
                .iter()
                .find(|p: &&BurstPoint| p.isolator == isolator && p.load.key() == key)
        })
        .map(|p| {
            p.samples
                .iter()
                .map(|s| s.latency_ns as f64)
                .collect::<Vec<f64>>()
        })
        .filter(|values| !values.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use reports::compare::Verdict;
    use reports::{BurstLoad, BurstSample};

    use super::*;

    fn record(latencies: &[u64]) -> RunRecord {
        let config = reports::RunConfig {
            runs: 0,
            warmup: 0,
            workload: reports::Workload::noop(),
            timeout_ms: 1_000,
            order: reports::Order::Burst,
            isolators: vec!["container".into()],
            user_workload: None,
        };
        let mut record = crate::record::new_run(config, Default::default());
        record.burst = vec![BurstPoint {
            isolator: "container".into(),
            load: BurstLoad::Closed { concurrency: 16 },
            launches_requested: latencies.len() as u32,
            samples: latencies
                .iter()
                .map(|&latency_ns| BurstSample {
                    latency_ns,
                    ..Default::default()
                })
                .collect(),
            failures: 0,
            first_error: None,
            latency: None,
            achieved_per_second: 0.0,
            duration_ns: 0,
            fell_behind: false,
            settle: None,
            stopped_because: None,
            leftovers: Vec::new(),
        }];
        record
    }

    #[test]
    fn a_slower_tail_is_a_regression_and_the_same_tail_is_not() {
        let mut rng = fastrand::Rng::with_seed(3);
        let base_values: Vec<u64> = (0..400).map(|_| 1_000 + rng.u64(0..200)).collect();
        // The same p50, but one launch in twenty now takes 3×: p99 triples.
        let slow_tail: Vec<u64> = base_values
            .iter()
            .enumerate()
            .map(|(i, &v)| if i % 20 == 0 { v * 3 } else { v })
            .collect();
        let same: Vec<u64> = (0..400).map(|_| 1_000 + rng.u64(0..200)).collect();
        let base = [record(&base_values)];
        let compared = compare_burst(&base, &[record(&slow_tail)], 0.05, &mut rng);
        let metric = |c: &[Comparison], m: &str| c.iter().find(|c| c.metric == m).unwrap().clone();
        assert_eq!(compared.len(), 2);
        assert_eq!(metric(&compared, "latency_p99_ns").verdict, Verdict::Slower);
        assert_eq!(
            metric(&compared, "latency_p50_ns").verdict,
            Verdict::NoChange
        );
        assert_eq!(
            metric(&compared, "latency_p99_ns").isolator,
            "container 16 in flight"
        );
        let unchanged = compare_burst(&base, &[record(&same)], 0.05, &mut rng);
        assert!(
            unchanged.iter().all(|c| c.verdict == Verdict::NoChange),
            "{unchanged:?}"
        );
    }
}
