//! Descriptive statistics for one metric: order statistics, a confidence interval of the
//! median, and outliers by median absolute deviation.
use reports::Summary;

/// z for a two-sided 95% interval.
const Z_95: f64 = 1.959_963_984_540_054;
/// Robust z-score above which a sample is an outlier (Iglewicz and Hoaglin).
const OUTLIER_Z: f64 = 3.5;

/// Summarises `values` (any order). Returns None for an empty slice.
pub fn summarize(values: &[f64]) -> Option<Summary> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let n = sorted.len();
    let mean = sorted.iter().sum::<f64>() / n as f64;
    let variance = if n > 1 {
        sorted.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64
    } else {
        0.0
    };
    let stddev = variance.sqrt();
    let median = quantile(&sorted, 0.5);
    let (median_ci_low, median_ci_high) = median_confidence_interval(&sorted);
    Some(Summary {
        n: n as u32,
        min: sorted[0],
        median,
        mean,
        stddev,
        p95: quantile(&sorted, 0.95),
        max: sorted[n - 1],
        median_ci_low,
        median_ci_high,
        outliers: outliers(values, median),
        coefficient_of_variation: if mean != 0.0 {
            stddev / mean.abs()
        } else {
            0.0
        },
    })
}

/// Linear interpolation between closest ranks (Hyndman and Fan type 7, as numpy's default).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let position = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lower = position.floor() as usize;
    let upper = position.ceil() as usize;
    let weight = position - lower as f64;
    sorted[lower] * (1.0 - weight) + sorted[upper] * weight
}

/// Distribution-free 95% interval of the median from order statistics (normal approximation
/// to the binomial): ranks ⌊n/2 − z·√n/2⌋ and ⌈1 + n/2 + z·√n/2⌉ (1-based), which for n = 100
/// gives the textbook 40th and 61st values; the full range for tiny n.
pub fn median_confidence_interval(sorted: &[f64]) -> (f64, f64) {
    let n = sorted.len();
    if n < 6 {
        return (sorted[0], sorted[n - 1]);
    }
    let half_width = Z_95 * (n as f64).sqrt() / 2.0;
    let low_rank = ((n as f64 / 2.0) - half_width).floor().max(1.0) as usize;
    let high_rank = (1.0 + (n as f64 / 2.0) + half_width).ceil().min(n as f64) as usize;
    (sorted[low_rank - 1], sorted[high_rank - 1])
}

/// Indexes of samples whose robust z-score |0.6745·(x − median) / MAD| exceeds 3.5.
pub fn outliers(values: &[f64], median: f64) -> Vec<u32> {
    let mut deviations: Vec<f64> = values.iter().map(|v| (v - median).abs()).collect();
    deviations.sort_by(|a, b| a.total_cmp(b));
    let mad = quantile(&deviations, 0.5);
    if mad == 0.0 {
        return Vec::new();
    }
    values
        .iter()
        .enumerate()
        .filter(|(_, v)| (0.6745 * (*v - median) / mad).abs() > OUTLIER_Z)
        .map(|(i, _)| i as u32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn known_values() {
        // 1..=10: mean 5.5, median 5.5, sample σ = sqrt(110/12) ≈ 3.02765, p95 = 9.55 (type 7).
        let values: Vec<f64> = (1..=10).map(f64::from).collect();
        let s = summarize(&values).unwrap();
        assert_eq!((s.n, s.min, s.max), (10, 1.0, 10.0));
        assert!(close(s.mean, 5.5) && close(s.median, 5.5));
        assert!(close(s.stddev, (110.0f64 / 12.0).sqrt()), "{}", s.stddev);
        assert!(close(s.p95, 9.55), "{}", s.p95);
        assert!(s.outliers.is_empty());
    }

    #[test]
    fn median_interval_brackets_the_median() {
        // n = 100: ranks ⌊50 − 9.8⌋ = 40 and ⌈51 + 9.8⌉ = 61.
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        let s = summarize(&values).unwrap();
        assert_eq!((s.median_ci_low, s.median_ci_high), (40.0, 61.0));
        let tiny = summarize(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!(
            (tiny.median_ci_low, tiny.median_ci_high, tiny.median),
            (1.0, 3.0, 2.0)
        );
    }

    #[test]
    fn finds_a_planted_outlier() {
        let mut values = vec![10.0, 10.2, 9.9, 10.1, 10.0, 9.8, 10.3, 10.1];
        values.push(25.0);
        let s = summarize(&values).unwrap();
        assert_eq!(s.outliers, vec![8]);
    }

    #[test]
    fn single_sample_and_empty() {
        let s = summarize(&[7.0]).unwrap();
        assert_eq!((s.min, s.median, s.max, s.stddev), (7.0, 7.0, 7.0, 0.0));
        assert!(summarize(&[]).is_none());
    }
}
