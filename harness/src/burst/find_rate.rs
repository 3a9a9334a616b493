//! `--find-rate`: the highest open-loop arrival rate an isolator sustains, searched for rather
//! than guessed. A rate is *sustained* when its p99 stays within [`reports::SUSTAINED_TAIL_FACTOR`] × its own
//! p50, no launch failed and the launches kept to their schedule. The search doubles
//! (or halves) from a starting rate until it brackets the answer, then bisects geometrically
//! [`BISECTIONS`] times, so the answer is within a factor 2^(1/2^BISECTIONS) (9% after 3).
use reports::{BurstLoad, BurstPoint};

/// Geometric bisections once the answer is bracketed.
pub const BISECTIONS: u32 = 3;
/// Below this rate the search gives up (an isolator that cannot sustain one launch per second).
pub const LOWEST_RATE: f64 = 1.0;
/// Above this rate the search stops climbing.
pub const HIGHEST_RATE: f64 = 100_000.0;

/// The next rate to try given the rates tried so far (rate, sustained) in order (the rates
/// given with `--rate` may come first, in any order), or None when the search is done.
/// `start` is the first rate when nothing was tried.
pub fn next_rate(tried: &[(f64, bool)], start: f64) -> Option<f64> {
    if tried.is_empty() {
        return Some(start);
    }
    let best_ok = tried.iter().filter(|t| t.1).map(|t| t.0).reduce(f64::max);
    let lowest_bad = tried.iter().filter(|t| !t.1).map(|t| t.0).reduce(f64::min);
    match (best_ok, lowest_bad) {
        // Still climbing, or still descending: past every rate tried, so never one twice.
        (Some(low), None) => (low < HIGHEST_RATE).then(|| round_rate(low * 2.0)),
        (None, Some(high)) => (high / 2.0 >= LOWEST_RATE).then(|| round_rate(high / 2.0)),
        (Some(low), Some(high)) => {
            let middle = round_rate((low * high).sqrt());
            (bisections(tried) < BISECTIONS && low < middle && middle < high).then_some(middle)
        }
        (None, None) => None,
    }
}

/// A rate people can read: whole launches per second from 10 on, tenths below.
fn round_rate(rate: f64) -> f64 {
    if rate >= 10.0 {
        rate.round()
    } else {
        (rate * 10.0).round() / 10.0
    }
}

/// How many tries came after the answer was first bracketed (a sustained and an unsustained
/// rate both tried).
fn bisections(tried: &[(f64, bool)]) -> u32 {
    let first_bracket = (1..=tried.len()).find(|&n| {
        let head = &tried[..n];
        head.iter().any(|t| t.1) && head.iter().any(|t| !t.1)
    });
    first_bracket.map_or(0, |n| (tried.len() - n) as u32)
}

/// The highest sustained rate among `points` (open-loop points of one isolator), if any.
pub fn best(points: &[&BurstPoint]) -> Option<f64> {
    points
        .iter()
        .filter(|p| p.sustained())
        .filter_map(|p| match p.load {
            BurstLoad::Open {
                rate_per_second, ..
            } => Some(rate_per_second),
            BurstLoad::Closed { .. } => None,
        })
        .reduce(f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the search against an isolator that sustains every rate up to `capacity`.
    fn search(capacity: f64, start: f64) -> Vec<(f64, bool)> {
        let mut tried = Vec::new();
        while let Some(rate) = next_rate(&tried, start) {
            tried.push((rate, rate <= capacity));
            assert!(tried.len() < 40, "the search ends: {tried:?}");
        }
        tried
    }

    fn answer(tried: &[(f64, bool)]) -> Option<f64> {
        tried.iter().filter(|t| t.1).map(|t| t.0).reduce(f64::max)
    }

    #[test]
    fn climbs_then_bisects_to_within_nine_percent() {
        let tried = search(137.0, 50.0);
        // 50 ok, 100 ok, 200 not: bracketed; then √(100·200) = 141 not, √(100·141) = 119 ok,
        // √(119·141) = 130 ok.
        let rates: Vec<u32> = tried.iter().map(|t| t.0.round() as u32).collect();
        assert_eq!(rates, [50, 100, 200, 141, 119, 130]);
        let found = answer(&tried).unwrap();
        assert!(found <= 137.0 && found > 137.0 / 1.09, "{found}");
    }

    #[test]
    fn descends_when_the_start_is_too_fast() {
        let tried = search(7.0, 50.0);
        // Halving from 50, rates rounded to whole launches per second from 10 on, tenths below.
        let rates: Vec<f64> = tried.iter().take(4).map(|t| t.0).collect();
        assert_eq!(rates, [50.0, 25.0, 13.0, 6.5]);
        let found = answer(&tried).unwrap();
        assert!(found <= 7.0 && found > 7.0 / 1.09, "{found}");
    }

    #[test]
    fn continues_from_the_rates_already_measured() {
        // --rate 50,100,200 all too fast for an isolator that sustains 20/s: go on below 50.
        let tried = [(50.0, false), (100.0, false), (200.0, false)];
        assert_eq!(next_rate(&tried, 1.0), Some(25.0));
        let tried = [(200.0, false), (50.0, true), (100.0, true)];
        assert_eq!(next_rate(&tried, 1.0), Some(141.0));
    }

    #[test]
    fn gives_up_below_one_per_second_and_above_the_ceiling() {
        let tried = search(0.1, 4.0);
        assert_eq!(answer(&tried), None);
        assert_eq!(tried.last().unwrap().0, 1.0);
        let tried = search(f64::INFINITY, 50_000.0);
        assert_eq!(answer(&tried), Some(HIGHEST_RATE));
    }
}
