//! One trial: launch one instance, wait for ready, sample memory, release, wait until gone.
//!
//! The CLI runner and the criterion benches share this code, so both time the same thing.
use std::time::Duration;

use isolators::{monotonic_ns, Error, MemoryUsage, Prepared, Ready};

/// What one trial measured.
#[derive(Debug, Clone)]
pub struct TrialResult {
    pub startup_ns: u64,
    pub ready: Ready,
    pub memory: MemoryUsage,
    pub teardown_ns: u64,
    /// CPU the instance's own accounting saw from launch to gone (cgroup or rusage).
    pub cpu_ns: Option<u64>,
}

/// Runs one full trial. On any error the instance is dropped, which kills and cleans it.
pub fn run_trial(prepared: &mut Prepared, timeout: Duration) -> Result<TrialResult, Error> {
    let mut instance = prepared.launch()?;
    let ready = instance.wait_ready(timeout)?;
    let startup_ns = ready.ready_ns.saturating_sub(instance.launched_ns());
    let memory = instance.memory()?;
    let released_ns = monotonic_ns();
    instance.release()?;
    instance.wait_gone(timeout)?;
    let teardown_ns = monotonic_ns() - released_ns;
    Ok(TrialResult {
        startup_ns,
        ready,
        memory,
        teardown_ns,
        cpu_ns: instance.cpu_ns(),
    })
}

/// Launch → ready only (for benches): the instance is released and awaited outside the timing.
pub fn time_startup(prepared: &mut Prepared, timeout: Duration) -> Result<Duration, Error> {
    let mut instance = prepared.launch()?;
    let ready = instance.wait_ready(timeout)?;
    let startup = Duration::from_nanos(ready.ready_ns.saturating_sub(instance.launched_ns()));
    instance.release()?;
    instance.wait_gone(timeout)?;
    Ok(startup)
}
