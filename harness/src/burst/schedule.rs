//! The open loop's schedule: when each launch is due, computed before the point starts so
//! nothing a launch does can move it (no coordinated omission: a slow launch delays the ones
//! behind it, and that delay counts in their latency).
//!
//! Poisson arrivals (the default) are seeded, so a run can be repeated exactly: gaps are
//! exponential with mean 1/rate, drawn by inversion, −ln(1 − U)/rate with U uniform in [0, 1).
use reports::Arrivals;

/// When each of `count` launches is due, ns after the point's start, ascending. The first is
/// due at 0 for uniform arrivals and after one gap for Poisson ones.
pub fn due_times_ns(arrivals: Arrivals, rate_per_second: f64, count: u32, seed: u64) -> Vec<u64> {
    assert!(
        rate_per_second.is_finite() && rate_per_second > 0.0,
        "rates are checked at the command line"
    );
    let mean_gap_ns = 1e9 / rate_per_second;
    match arrivals {
        Arrivals::Uniform => (0..count)
            .map(|i| (f64::from(i) * mean_gap_ns).round() as u64)
            .collect(),
        Arrivals::Poisson => {
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut at_ns = 0.0;
            (0..count)
                .map(|_| {
                    at_ns += -(1.0 - rng.f64()).ln() * mean_gap_ns;
                    at_ns.round() as u64
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_arrivals_are_evenly_spaced() {
        assert_eq!(
            due_times_ns(Arrivals::Uniform, 200.0, 4, 0),
            [0, 5_000_000, 10_000_000, 15_000_000]
        );
        // 3 per second: gaps of 333 333 333.3 ns, rounded per arrival, not accumulated.
        assert_eq!(
            due_times_ns(Arrivals::Uniform, 3.0, 4, 0),
            [0, 333_333_333, 666_666_667, 1_000_000_000]
        );
    }

    #[test]
    fn poisson_arrivals_repeat_with_their_seed() {
        let a = due_times_ns(Arrivals::Poisson, 100.0, 50, 7);
        assert_eq!(a, due_times_ns(Arrivals::Poisson, 100.0, 50, 7));
        assert_ne!(a, due_times_ns(Arrivals::Poisson, 100.0, 50, 8));
        assert!(a.windows(2).all(|w| w[0] <= w[1]), "ascending");
    }

    #[test]
    fn poisson_gaps_are_exponential_at_the_asked_rate() {
        let rate = 250.0;
        let count = 20_000;
        let due = due_times_ns(Arrivals::Poisson, rate, count, 42);
        let mut gaps: Vec<f64> = std::iter::once(due[0])
            .chain(due.windows(2).map(|w| w[1] - w[0]))
            .map(|g| g as f64 / 1e9)
            .collect();
        // Mean gap 4 ms within 3% (its standard error is 0.7% at this count).
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        assert!((mean * rate - 1.0).abs() < 0.03, "mean gap {mean}");
        // Kolmogorov-Smirnov against Exp(rate): D below the 1% critical value 1.63/√n.
        gaps.sort_by(f64::total_cmp);
        let n = gaps.len() as f64;
        let d = gaps
            .iter()
            .enumerate()
            .map(|(i, &g)| {
                let model = 1.0 - (-rate * g).exp();
                (model - i as f64 / n)
                    .abs()
                    .max((model - (i + 1) as f64 / n).abs())
            })
            .fold(0.0, f64::max);
        assert!(d < 1.63 / n.sqrt(), "KS distance {d}");
        // Achieved rate over the whole schedule.
        let span_s = *due.last().unwrap() as f64 / 1e9;
        assert!((f64::from(count) / span_s / rate - 1.0).abs() < 0.03);
    }
}
