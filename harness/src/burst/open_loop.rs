//! The open loop: launches due on a precomputed schedule ([`super::schedule`]), each taken by
//! the first free of `workers` threads. No launch waits for another to finish unless every
//! worker is busy, and then its wait (start lag) counts in its latency, which runs from the
//! time it was due, not from when it started: a slow isolator cannot slow the clock that
//! measures it (no coordinated omission, as wrk2).
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use isolators::{monotonic_ns, Error};
use reports::{Arrivals, BurstLoad, BurstPoint};

use super::{guarded, schedule, settle, Limits, Point, Pool};

/// Time for the workers to start before the first launch is due.
const LEAD: Duration = Duration::from_millis(20);

/// The open loop's shape.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    pub per_second: f64,
    pub arrivals: Arrivals,
    pub seed: u64,
    /// The most launches in flight at once.
    pub workers: u32,
}

/// Measures one open-loop point of `pool`'s isolator at `rate`.
pub fn measure(pool: &mut Pool, rate: Rate, limits: &Limits<'_>) -> Result<BurstPoint, Error> {
    let name = pool.name().to_string();
    let launchers = pool.launchers(rate.workers as usize)?;
    let settle_before = settle::counts();
    let point = Point::new(limits);
    let start_ns = point.started_ns + LEAD.as_nanos() as u64;
    let due: Vec<u64> =
        schedule::due_times_ns(rate.arrivals, rate.per_second, limits.launches, rate.seed)
            .into_iter()
            .map(|offset| start_ns + offset)
            .collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for launcher in launchers.iter_mut() {
            let (point, next, due) = (&point, &next, &due);
            scope.spawn(move || {
                guarded(point, || loop {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&due_ns) = due.get(index) else {
                        break;
                    };
                    if !sleep_until(due_ns, point) {
                        break;
                    }
                    point.cycle(launcher, Some(due_ns));
                })
            });
        }
    });
    let load = BurstLoad::Open {
        rate_per_second: rate.per_second,
        arrivals: rate.arrivals,
        seed: rate.seed,
        workers: rate.workers,
    };
    Ok(point.finish(&name, load, settle_before))
}

/// Sleeps until CLOCK_MONOTONIC reaches `due_ns`, waking every 50 ms to see whether the point
/// must stop; false when it must (then nothing is launched).
fn sleep_until(due_ns: u64, point: &Point<'_>) -> bool {
    const CHECK: u64 = 50_000_000;
    loop {
        if point.should_stop() {
            return false;
        }
        let now = monotonic_ns();
        if now >= due_ns {
            return true;
        }
        std::thread::sleep(Duration::from_nanos((due_ns - now).min(CHECK)));
    }
}
