//! Density points in `compare`: the time until N instances are all ready and the memory per
//! instance. A run holds one value of each, so only several runs per side give an interval:
//! with fewer than [`MIN_RUNS`] the bootstrap over runs is too coarse to trust (two runs of
//! one build, two per side, came out "+53%, slower" here), and no verdict is given.
use reports::{DensityPoint, RunRecord};

use super::{compare_metric, Comparison, Verdict};

/// Runs per side before a density row gets an interval and a verdict.
pub const MIN_RUNS: usize = 5;

type DensityMetric = (&'static str, fn(&DensityPoint) -> f64);

const DENSITY_METRICS: [DensityMetric; 2] = [
    ("all_ready_ns", |p| p.all_ready_ns as f64),
    ("per_instance_bytes", |p| {
        p.per_instance_footprint_bytes as f64
    }),
];

/// Compares every (isolator, instance count) that reached its count on both sides; rows with
/// fewer than [`MIN_RUNS`] runs on either side get no verdict.
pub(super) fn compare_density(
    base: &[RunRecord],
    new: &[RunRecord],
    noise: f64,
    rng: &mut fastrand::Rng,
) -> Vec<Comparison> {
    let mut keys: Vec<(&str, u32)> = Vec::new();
    for point in new.iter().flat_map(|r| &r.density) {
        let key = (point.isolator.as_str(), point.requested);
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    let mut out = Vec::new();
    for (isolator, requested) in keys {
        for (metric, value) in DENSITY_METRICS {
            let base_runs = per_run(base, isolator, requested, value);
            let new_runs = per_run(new, isolator, requested, value);
            if base_runs.is_empty() || new_runs.is_empty() {
                continue;
            }
            let label = format!("{isolator} ×{requested}");
            let mut c = compare_metric(&label, metric, &base_runs, &new_runs, noise, rng);
            if base_runs.len() < MIN_RUNS || new_runs.len() < MIN_RUNS {
                c.verdict = Verdict::NoInterval {
                    runs_needed: MIN_RUNS,
                };
            }
            out.push(c);
        }
    }
    out
}

/// Points on a side that stopped short of their count, as "isolator ×N (reached R)".
pub(super) fn stopped_short(runs: &[RunRecord]) -> Vec<String> {
    runs.iter()
        .flat_map(|r| &r.density)
        .filter(|p| p.reached < p.requested)
        .map(|p| format!("{} ×{} (reached {})", p.isolator, p.requested, p.reached))
        .collect()
}

/// One single-value vector per run whose point for (isolator, requested) reached its count.
fn per_run(
    runs: &[RunRecord],
    isolator: &str,
    requested: u32,
    value: fn(&DensityPoint) -> f64,
) -> Vec<Vec<f64>> {
    runs.iter()
        .filter_map(|run| {
            run.density.iter().find(|p| {
                p.isolator == isolator && p.requested == requested && p.reached == requested
            })
        })
        .map(|point| vec![value(point)])
        .collect()
}
