//! `isobench burst`: the latency each launch sees when many launch at once, at a fixed
//! concurrency ([`closed_loop`]) or a fixed arrival rate ([`open_loop`]), with tail
//! quantiles ([`percentiles`]), teardown lag and a leak check per point.
//!
//! Every worker thread owns a prepared launcher (preparing is untimed) and takes each of its
//! instances from launch to gone itself: an instance may be bound to the thread that started
//! it (bwrap `--die-with-parent`). A failed launch is counted, its instance dropped (which kills
//! and cleans), and the point goes on until [`MAX_FAILURES`].
pub mod closed_loop;
pub mod find_rate;
pub mod open_loop;
pub mod percentiles;
pub mod schedule;
pub mod settle;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use isolators::{monotonic_ns, Error, Instance, Isolator, Prepared, Resources, Workload};
use reports::{BurstLoad, BurstPoint, BurstSample};

/// A point stops launching after this many failures.
pub const MAX_FAILURES: u32 = 10;

/// Launchers of one isolator, prepared as workers are needed and kept for later points.
pub struct Pool {
    isolator: Box<dyn Isolator>,
    workload: Workload,
    launchers: Vec<Prepared>,
}

impl Pool {
    pub fn new(isolator: Box<dyn Isolator>, workload: Workload) -> Pool {
        Pool {
            isolator,
            workload,
            launchers: Vec::new(),
        }
    }

    pub fn name(&self) -> &str {
        self.isolator.name()
    }

    /// `count` prepared launchers, preparing the missing ones now.
    pub fn launchers(&mut self, count: usize) -> Result<&mut [Prepared], Error> {
        while self.launchers.len() < count {
            let prepared = Prepared::new(self.isolator.as_ref(), &self.workload)?;
            self.launchers.push(prepared);
        }
        Ok(&mut self.launchers[..count])
    }
}

/// What every point needs besides its load.
pub struct Limits<'a> {
    pub launches: u32,
    /// Per launch, for ready and for gone.
    pub timeout: Duration,
    /// A point stops launching once it has run this long.
    pub budget: Duration,
    /// Ctrl-C.
    pub stop: &'a AtomicBool,
}

/// What the workers of one point gather.
#[derive(Default)]
struct Gathered {
    samples: Vec<BurstSample>,
    failures: u32,
    first_error: Option<String>,
    resources: Vec<Resources>,
    first_start_ns: Option<u64>,
    last_ready_ns: u64,
    last_gone_ns: u64,
    stopped_because: Option<String>,
}

/// The shared state of a point's workers.
struct Point<'a> {
    started_ns: u64,
    deadline: Instant,
    limits: &'a Limits<'a>,
    gathered: Mutex<Gathered>,
}

impl<'a> Point<'a> {
    fn new(limits: &'a Limits<'a>) -> Point<'a> {
        Point {
            started_ns: monotonic_ns(),
            deadline: Instant::now() + limits.budget,
            limits,
            gathered: Mutex::new(Gathered::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Gathered> {
        self.gathered.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Why no more launches may start, if so (the first reason is kept).
    fn should_stop(&self) -> bool {
        let why = if self.limits.stop.load(Ordering::SeqCst) {
            Some("interrupted".to_string())
        } else if Instant::now() >= self.deadline {
            Some(format!(
                "budget of {:.0} s per point reached",
                self.limits.budget.as_secs_f64()
            ))
        } else if self.lock().failures >= MAX_FAILURES {
            Some(format!("{MAX_FAILURES} launches failed"))
        } else {
            None
        };
        match why {
            Some(why) => {
                self.lock().stopped_because.get_or_insert(why);
                true
            }
            None => false,
        }
    }

    /// One launch → ready → release → gone. `due_ns` is when it was due (CLOCK_MONOTONIC);
    /// None in a closed loop, where it is due when the launcher stamps its start.
    fn cycle(&self, launcher: &mut Prepared, due_ns: Option<u64>) {
        let timeout = self.limits.timeout;
        // A failed instance stays here until its failure is counted: dropping it (kill and
        // clean) takes a while, and other workers must see the count before they launch.
        let mut slot: Option<Box<dyn Instance>> = None;
        let outcome = (|| -> Result<(BurstSample, u64, u64), Error> {
            let instance = slot.insert(launcher.launch()?);
            let launched_ns = instance.launched_ns();
            let ready = instance.wait_ready(timeout);
            // What to look for after the point, also of an instance that never became ready.
            self.lock().resources.push(instance.resources());
            let ready = ready?;
            instance.release()?;
            let released_ns = monotonic_ns();
            instance.wait_gone(timeout)?;
            let gone_ns = monotonic_ns();
            let due_ns = due_ns.unwrap_or(launched_ns);
            let sample = BurstSample {
                due_ns: due_ns.saturating_sub(self.started_ns),
                start_lag_ns: launched_ns.saturating_sub(due_ns),
                latency_ns: ready.ready_ns.saturating_sub(due_ns),
                teardown_ns: gone_ns - released_ns,
            };
            Ok((sample, launched_ns, ready.ready_ns))
        })();
        match outcome {
            Ok((sample, launched_ns, ready_ns)) => {
                let mut gathered = self.lock();
                gathered.samples.push(sample);
                let first = gathered.first_start_ns.get_or_insert(launched_ns);
                *first = (*first).min(launched_ns);
                gathered.last_ready_ns = gathered.last_ready_ns.max(ready_ns);
            }
            Err(error) => {
                let mut gathered = self.lock();
                gathered.failures += 1;
                gathered
                    .first_error
                    .get_or_insert_with(|| error.to_string());
            }
        }
        drop(slot);
        let now = monotonic_ns();
        let mut gathered = self.lock();
        gathered.last_gone_ns = gathered.last_gone_ns.max(now);
    }

    /// The record of the point, once every worker is done: quantiles, rate, teardown lag,
    /// leftovers.
    fn finish(self, isolator: &str, load: BurstLoad, settle_before: settle::Counts) -> BurstPoint {
        let stop = || self.limits.stop.load(Ordering::SeqCst);
        let mut gathered = self
            .gathered
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        let settle = settle::settle(settle_before, gathered.last_gone_ns.max(1), &stop);
        gathered.samples.sort_by_key(|s| s.due_ns);
        let latencies: Vec<u64> = gathered.samples.iter().map(|s| s.latency_ns).collect();
        let ready = gathered.samples.len() as f64;
        let span_ns = gathered
            .last_ready_ns
            .saturating_sub(gathered.first_start_ns.unwrap_or(gathered.last_ready_ns));
        let fell_behind = match &load {
            BurstLoad::Open {
                rate_per_second, ..
            } => {
                let mut lags: Vec<u64> = gathered.samples.iter().map(|s| s.start_lag_ns).collect();
                lags.sort_unstable();
                lags.get(lags.len() / 2)
                    .is_some_and(|&median| median as f64 > 1e9 / rate_per_second)
            }
            BurstLoad::Closed { .. } => false,
        };
        BurstPoint {
            isolator: isolator.to_string(),
            load,
            launches_requested: self.limits.launches,
            latency: percentiles::summarize(&latencies),
            achieved_per_second: if span_ns > 0 {
                ready / (span_ns as f64 / 1e9)
            } else {
                0.0
            },
            duration_ns: gathered.last_gone_ns.saturating_sub(self.started_ns),
            fell_behind,
            settle: Some(settle),
            failures: gathered.failures,
            first_error: gathered.first_error,
            stopped_because: gathered.stopped_because,
            leftovers: crate::density::leftovers(&gathered.resources),
            samples: gathered.samples,
        }
    }
}

/// A worker's body, run on its own thread: a panic is counted as a failure, not lost.
fn guarded(point: &Point<'_>, work: impl FnOnce()) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).is_err() {
        let mut gathered = point.lock();
        gathered.failures += 1;
        gathered
            .first_error
            .get_or_insert_with(|| "a worker thread panicked".into());
    }
}
