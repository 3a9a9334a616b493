//! Tail quantiles of launch latencies with distribution-free confidence intervals.
//!
//! The estimate is the type-7 quantile (linear between closest ranks, as [`crate::stats`] and
//! numpy). The 95% interval is the pair of order statistics `X(l) ≤ ξ_q ≤ X(u)` whose coverage,
//! Σ_{k=l}^{u−1} C(n,k) q^k (1−q)^{n−k} from the exact binomial, is at least 95%, with at most
//! 2.5% left out on each side (no assumption about the latency distribution, unlike a normal
//! interval; no resampling noise, unlike a bootstrap, which also cannot reach beyond the
//! largest sample a tail quantile needs). Where n is too small for a bound (p99's upper bound
//! needs n ≥ 368, p99.9's n ≥ 3 688) that bound is None: "we cannot tell" rather than the max.
use reports::{LatencySummary, QuantileEstimate};

use crate::stats::quantile;

/// The quantiles every burst point reports: p50, p90, p99, p99.9.
pub const QUANTILES: [f64; 4] = [0.5, 0.9, 0.99, 0.999];

/// Left out on each side of the interval (two-sided 95%).
const TAIL: f64 = 0.025;

/// The latency summary of `values` in ns (any order); None when empty.
pub fn summarize(values: &[u64]) -> Option<LatencySummary> {
    if values.is_empty() {
        return None;
    }
    let mut sorted: Vec<f64> = values.iter().map(|&v| v as f64).collect();
    sorted.sort_by(f64::total_cmp);
    Some(LatencySummary {
        n: sorted.len() as u32,
        quantiles: QUANTILES.iter().map(|&q| estimate(&sorted, q)).collect(),
    })
}

/// Quantile `q` of `sorted` (ascending, not empty) with its 95% order-statistic interval.
pub fn estimate(sorted: &[f64], q: f64) -> QuantileEstimate {
    let (low, high) = interval_ranks(sorted.len(), q);
    QuantileEstimate {
        q,
        value_ns: quantile(sorted, q),
        ci_low_ns: low.map(|rank| sorted[rank - 1]),
        ci_high_ns: high.map(|rank| sorted[rank - 1]),
    }
}

/// 1-based ranks (l, u) of the 95% interval of quantile `q` among `n` samples: l the largest
/// rank with P(B ≤ l−1) ≤ 2.5%, u the smallest with P(B ≥ u) ≤ 2.5%, B ~ Binomial(n, q)
/// the count of samples below the true quantile. None for a bound no rank in 1..=n satisfies.
pub fn interval_ranks(n: usize, q: f64) -> (Option<usize>, Option<usize>) {
    let cdf = binomial_cdf(n, q);
    // cdf[k] = P(B ≤ k).
    let low = (1..=n).rev().find(|&l| cdf[l - 1] <= TAIL);
    let high = (1..=n).find(|&u| 1.0 - cdf[u - 1] <= TAIL);
    (low, high)
}

/// P(B ≤ k) for k in 0..=n, B ~ Binomial(n, p), 0 < p < 1. Terms are built in log space so
/// large n (p^n underflows past n ≈ 1 000 at p = 0.5) stays exact to rounding.
fn binomial_cdf(n: usize, p: f64) -> Vec<f64> {
    let (ln_p, ln_not_p) = (p.ln(), (1.0 - p).ln());
    let mut ln_term = n as f64 * ln_not_p; // ln P(B = 0)
    let mut cumulative = Vec::with_capacity(n + 1);
    let mut sum = 0.0;
    for k in 0..=n {
        sum += ln_term.exp();
        cumulative.push(sum.min(1.0));
        if k < n {
            ln_term += ((n - k) as f64 / (k + 1) as f64).ln() + ln_p - ln_not_p;
        }
    }
    cumulative
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_a_hundred_has_the_textbook_interval() {
        // Binomial(100, 0.5): P(B ≤ 39) = 0.0176, P(B ≤ 40) = 0.0284; P(B ≥ 61) = 0.0176.
        assert_eq!(interval_ranks(100, 0.5), (Some(40), Some(61)));
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        let median = estimate(&sorted, 0.5);
        assert_eq!(median.value_ns, 50.5);
        assert_eq!(
            (median.ci_low_ns, median.ci_high_ns),
            (Some(40.0), Some(61.0))
        );
    }

    #[test]
    fn tail_bounds_appear_only_with_enough_samples() {
        // 0.99^n ≤ 0.025 first at n = 368 (0.99^367 = 0.02500…, just above).
        assert_eq!(interval_ranks(366, 0.99).1, None);
        assert_eq!(interval_ranks(368, 0.99).1, Some(368));
        // p99.9 of 400 samples: no upper bound; its lower bound is low in the order.
        let (low, high) = interval_ranks(400, 0.999);
        assert_eq!(high, None);
        assert!(low.is_some_and(|l| l >= 395), "{low:?}");
        // With 5 samples the median's 95% interval has no bound at all (P(B = 0) = 1/32 > 2.5%).
        assert_eq!(interval_ranks(5, 0.5), (None, None));
        // With 6, both ends of the sample (1/64 ≤ 2.5%).
        assert_eq!(interval_ranks(6, 0.5), (Some(1), Some(6)));
    }

    #[test]
    fn coverage_is_at_least_ninety_five_percent_for_large_n() {
        for &(n, q) in &[(1000, 0.5), (1000, 0.9), (5000, 0.99), (20_000, 0.999)] {
            let cdf = binomial_cdf(n, q);
            assert!((cdf[n] - 1.0).abs() < 1e-9, "n={n} q={q}: {}", cdf[n]);
            let (Some(l), Some(u)) = interval_ranks(n, q) else {
                panic!("n={n} q={q}: both bounds exist");
            };
            let coverage = cdf[u - 1] - cdf[l - 1];
            assert!((0.95..0.99).contains(&coverage), "n={n} q={q}: {coverage}");
            assert!(l as f64 <= q * n as f64 && u as f64 >= q * n as f64);
        }
    }

    #[test]
    fn summary_of_known_latencies() {
        // 1..=1000 ns: p50 = 500.5, p90 = 900.1, p99 = 990.01, p99.9 = 999.001 (type 7).
        let values: Vec<u64> = (1..=1000).rev().collect();
        let summary = summarize(&values).unwrap();
        assert_eq!(summary.n, 1000);
        let value = |q| summary.at(q).unwrap().value_ns;
        assert!((value(0.5) - 500.5).abs() < 1e-9);
        assert!((value(0.9) - 900.1).abs() < 1e-9);
        assert!((value(0.99) - 990.01).abs() < 1e-9);
        assert!((value(0.999) - 999.001).abs() < 1e-9);
        // Binomial(1000, 0.5): the interval is ranks 469 and 532.
        let p50 = summary.at(0.5).unwrap();
        assert_eq!((p50.ci_low_ns, p50.ci_high_ns), (Some(469.0), Some(532.0)));
        let p999 = summary.at(0.999).unwrap();
        assert_eq!(
            p999.ci_high_ns, None,
            "1000 samples cannot bound p99.9 from above"
        );
        assert!(summarize(&[]).is_none());
    }
}
