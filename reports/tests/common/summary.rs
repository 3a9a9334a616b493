//! Plain descriptive statistics for the fixture (the harness computes the real ones).
use reports::schema::Summary;

/// n, min, median, mean, σ, p95, max and a rough median interval of `values`; None when empty.
pub fn summarize(values: &[f64]) -> Option<Summary> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let at = |q: f64| sorted[((n - 1) as f64 * q).round() as usize];
    let mean = sorted.iter().sum::<f64>() / n as f64;
    let stddev =
        (sorted.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n.max(2) - 1) as f64).sqrt();
    Some(Summary {
        n: n as u32,
        min: sorted[0],
        median: at(0.5),
        mean,
        stddev,
        p95: at(0.95),
        max: sorted[n - 1],
        median_ci_low: at(0.3),
        median_ci_high: at(0.7),
        outliers: vec![],
        coefficient_of_variation: if mean != 0.0 { stddev / mean } else { 0.0 },
    })
}
