//! `isobench density`: hold N instances at once and measure the launch rate, the time until
//! all are ready, and memory per instance (PSS + cgroup, cross-checked against MemAvailable).
//!
//! On failure partway (out of memory, pids, a timeout) it stops, records how far it got and
//! why (naming the cgroup limit it hit, see [`crate::density_limits`]), and still tears
//! everything down. The launch rate and the all-ready time end at the last instance that became
//! ready: a failed launch's wait (up to the timeout) is in neither.
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Barrier, Condvar, Mutex};
use std::time::Duration;

use isolators::{monotonic_ns, Error, Instance, Prepared, Resources};

use crate::density_limits::LimitCounters;
use crate::host_meter::{self, CpuCounter, CpuSpans};
use procfs::Current;
use reports::DensityPoint;

struct Held {
    instance: Box<dyn Instance>,
    resources: Resources,
}

/// Holds `count` instances using every launcher in parallel, measures, then tears down.
pub fn measure(
    launchers: &mut [Prepared],
    count: u32,
    timeout: Duration,
    stop: &AtomicBool,
) -> DensityPoint {
    let name = launchers[0].name().to_string();
    let parallel = launchers.len() as u32;
    let counter = CpuCounter::detect();
    let host_before = host_meter::settle(&counter, host_meter::QUIET_WINDOW);
    let available_before = mem_available();
    let oom_kills_before = oom_kills();
    let limits_before = LimitCounters::read();
    let last_ready_ns = AtomicU64::new(0);
    let failure: Mutex<Option<String>> = Mutex::new(None);
    let failed = AtomicBool::new(false);
    let mut cpu = CpuSpans::new(&counter);
    cpu.start();
    let started = monotonic_ns();
    let all_held: Mutex<Vec<Held>> = Mutex::new(Vec::new());
    let all_launched = Barrier::new(launchers.len() + 1);
    let gone = (Mutex::new(false), Condvar::new());
    // Each launcher thread stays alive until its instances are gone: an instance may be bound
    // to the thread that started it (bwrap --die-with-parent dies with the launching thread).
    let (launched, died, all_ready_ns, usages, available_during, host, resources, teardown_ns) =
        std::thread::scope(|scope| {
            for (thread, launcher) in launchers.iter_mut().enumerate() {
                let share = Share {
                    thread: thread as u32,
                    parallel,
                    count,
                    timeout,
                    stop,
                    failed: &failed,
                    failure: &failure,
                    last_ready_ns: &last_ready_ns,
                };
                let (all_held, all_launched, gone) = (&all_held, &all_launched, &gone);
                scope.spawn(move || {
                    let mine = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        share.launch(launcher)
                    }))
                    .unwrap_or_default();
                    all_held.lock().unwrap().extend(mine);
                    all_launched.wait();
                    let mut done = gone.0.lock().unwrap();
                    while !*done {
                        done = gone.1.wait(done).unwrap();
                    }
                });
            }
            let release_threads = ReleaseOnDrop(&gone);
            all_launched.wait();
            // Until the last instance was ready, not until a failed launch gave up.
            let all_ready_ns = last_ready_ns.load(Ordering::SeqCst).saturating_sub(started);
            cpu.stop();
            let held = std::mem::take(&mut *all_held.lock().unwrap());
            let launched = held.len() as u32;
            // An instance the OOM killer (or anything else) ended after it was ready is not held.
            let died = held.iter().filter(|h| !still_running(&h.resources)).count() as u32;
            let usages: Vec<_> = held
                .iter()
                .filter_map(|h| h.instance.memory().ok())
                .collect();
            let available_during = mem_available();
            let host = host_before.as_ref().and_then(|before| {
                host_meter::held_sample(before, &counter, &usages, launched - died)
            });
            let resources: Vec<Resources> = held.iter().map(|h| h.resources.clone()).collect();
            cpu.start();
            let teardown_started = monotonic_ns();
            teardown(held, timeout);
            let teardown_ns = monotonic_ns() - teardown_started;
            cpu.stop();
            drop(release_threads);
            (
                launched,
                died,
                all_ready_ns,
                usages,
                available_during,
                host,
                resources,
                teardown_ns,
            )
        });
    let reached = launched - died;
    let total_footprint_bytes: u64 = usages.iter().map(|m| m.footprint_bytes()).sum();
    let mut host = host;
    if let (Some(sample), Some(before)) = (host.as_mut(), &host_before) {
        cpu.finish(sample, before);
    }
    let mem_available_drop_bytes = available_before as i64 - available_during as i64;
    let mut stopped_because = failure.into_inner().unwrap();
    if died > 0 {
        let lost = format!("{died} of {launched} ready instances died while held");
        stopped_because = Some(match stopped_because {
            Some(first) => format!("{first}; {lost}"),
            None => lost,
        });
    }
    if stopped_because.is_none() && stop.load(Ordering::SeqCst) {
        stopped_because = Some("interrupted".into());
    }
    let oom_kills = oom_kills().saturating_sub(oom_kills_before);
    if let (Some(reason), true) = (stopped_because.as_mut(), oom_kills > 0) {
        reason.push_str(&format!(
            " — the kernel's OOM killer ran {oom_kills} time(s) meanwhile: out of memory"
        ));
    }
    if let (Some(reason), Some(limits)) =
        (stopped_because.as_mut(), limits_before.limits_hit_since())
    {
        reason.push_str(&format!(" — {limits}"));
    }
    DensityPoint {
        isolator: name,
        requested: count,
        reached,
        parallel,
        all_ready_ns,
        launches_per_second: if all_ready_ns > 0 {
            reached as f64 / (all_ready_ns as f64 / 1e9)
        } else {
            0.0
        },
        total_footprint_bytes,
        per_instance_footprint_bytes: total_footprint_bytes / u64::from(reached.max(1)),
        mem_available_drop_bytes,
        per_instance_mem_available_drop_bytes: mem_available_drop_bytes / i64::from(reached.max(1)),
        teardown_ns,
        stopped_because,
        leftovers: leftovers(&resources),
        host,
    }
}

/// Lets the launcher threads end (also if measuring panics, so the scope can join them).
struct ReleaseOnDrop<'a>(&'a (Mutex<bool>, Condvar));

impl Drop for ReleaseOnDrop<'_> {
    fn drop(&mut self) {
        *self.0 .0.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.0 .1.notify_all();
    }
}

/// One launcher thread's part of a point: every `parallel`-th instance from `thread` on.
struct Share<'a> {
    thread: u32,
    parallel: u32,
    count: u32,
    timeout: Duration,
    stop: &'a AtomicBool,
    failed: &'a AtomicBool,
    failure: &'a Mutex<Option<String>>,
    /// CLOCK_MONOTONIC when the latest instance (of any thread) became ready.
    last_ready_ns: &'a AtomicU64,
}

impl Share<'_> {
    /// Launches this thread's instances until its share is held, one fails or a stop.
    fn launch(&self, launcher: &mut Prepared) -> Vec<Held> {
        let mut mine = Vec::new();
        for _ in (self.thread..self.count).step_by(self.parallel as usize) {
            if self.failed.load(Ordering::SeqCst) || self.stop.load(Ordering::SeqCst) {
                break;
            }
            let launched_ns = monotonic_ns();
            match launch_one(launcher, self.timeout) {
                Ok(one) => {
                    self.last_ready_ns
                        .fetch_max(monotonic_ns(), Ordering::SeqCst);
                    mine.push(one);
                }
                Err(error) => {
                    let waited_s = (monotonic_ns() - launched_ns) as f64 / 1e9;
                    self.failed.store(true, Ordering::SeqCst);
                    self.failure
                        .lock()
                        .unwrap()
                        .get_or_insert(with_hint(format!(
                            "instance {}: {error} (its {waited_s:.1} s are not in the launch rate or all-ready time)",
                            mine.len() as u32 * self.parallel + self.thread + 1
                        )));
                    break;
                }
            }
        }
        mine
    }
}

/// Names the limit behind the two errors a full host gives: EAGAIN from fork/clone and ENOMEM.
fn with_hint(message: String) -> String {
    if message.contains("(os error 11)") {
        message + " — a pids limit is reached (cgroup pids.max, kernel.pid_max or ulimit -u)"
    } else if message.contains("(os error 12)") || message.contains("Cannot allocate memory") {
        message + " — the host or the cgroup is out of memory"
    } else {
        message
    }
}

fn launch_one(prepared: &mut Prepared, timeout: Duration) -> Result<Held, Error> {
    let mut instance = prepared.launch()?;
    instance.wait_ready(timeout)?;
    let resources = instance.resources();
    Ok(Held {
        instance,
        resources,
    })
}

/// Releases every instance first (so they exit in parallel), then waits for each.
fn teardown(mut held: Vec<Held>, timeout: Duration) {
    for one in &mut held {
        let _ = one.instance.release();
    }
    for mut one in held {
        // A failure here still drops the instance, which kills and cleans it.
        let _ = one.instance.wait_gone(timeout);
    }
}

/// What is still there after teardown: live processes, cgroup directories, paths.
pub fn leftovers(resources: &[Resources]) -> Vec<String> {
    let mut left = Vec::new();
    for r in resources {
        for &pid in &r.pids {
            if let Ok(stat) = procfs::process::Process::new(pid).and_then(|p| p.stat()) {
                if stat.state != 'Z' {
                    left.push(format!("process {pid} ({}) still running", stat.comm));
                }
            }
        }
        for cgroup in r.cgroup.iter().chain(&r.launcher_cgroup) {
            if cgroup.dir().exists() {
                left.push(format!("cgroup {} still exists", cgroup.dir().display()));
            }
        }
        for path in r.paths.iter().filter(|p| p.exists()) {
            left.push(format!("{} still exists", path.display()));
        }
    }
    left
}

/// Whether any process of the instance is still running (not gone, not a zombie).
fn still_running(resources: &Resources) -> bool {
    resources.pids.iter().any(|&pid| {
        procfs::process::Process::new(pid)
            .and_then(|p| p.stat())
            .is_ok_and(|stat| stat.state != 'Z')
    })
}

/// The kernel's count of OOM kills since boot (`oom_kill` in /proc/vmstat, Linux 4.13+).
fn oom_kills() -> u64 {
    std::fs::read_to_string("/proc/vmstat")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("oom_kill ")?.trim().parse().ok())
        })
        .unwrap_or(0)
}

fn mem_available() -> u64 {
    procfs::Meminfo::current()
        .ok()
        .and_then(|m| m.mem_available)
        .unwrap_or(0)
}
