//! Shared lifecycle checks for the external engine tests.
#![allow(dead_code)]
use std::path::Path;
use std::time::Duration;

use isolators::{Host, Isolator, MemoryUsage, Workload};

/// Runs launch → ready → memory → release → gone once and checks nothing is left.
/// Returns the startup in nanoseconds and the memory sample.
pub fn lifecycle(isolator: &mut dyn Isolator, scratch: &Path) -> (u64, MemoryUsage) {
    let host = Host::detect();
    let availability = isolator.availability(&host);
    assert!(availability.is_available(), "{availability:?}");
    let footprint = isolator.prepare(&Workload::noop(), scratch).unwrap();
    assert!(footprint.runtime.apparent_bytes > 0 && footprint.image.apparent_bytes > 0);
    let mut instance = isolator.launch().unwrap();
    let ready = instance.wait_ready(Duration::from_secs(60)).unwrap();
    let startup_ns = ready.ready_ns - instance.launched_ns();
    // The probe says mode=noop; the bare VM guest says mode=bare.
    let mode = ready.report.get("mode").map(String::as_str);
    assert!(matches!(mode, Some("noop" | "bare")), "{:?}", ready.report);
    let resources = instance.resources();
    let memory = instance.memory().unwrap();
    assert!(memory.pss_bytes > 0, "{memory:?}");
    assert!(memory.processes >= 1, "{memory:?}");
    instance.release().unwrap();
    instance.wait_gone(Duration::from_secs(60)).unwrap();
    for pid in &resources.pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists() || is_zombie_or_other(*pid),
            "process {pid} of the instance is still running"
        );
    }
    for path in &resources.paths {
        assert!(!path.exists(), "{} was left behind", path.display());
    }
    drop(instance);
    (startup_ns, memory)
}

/// A launch that never gets to ready (1 ms timeout) must leave nothing behind once dropped.
pub fn never_ready_cleans_up(isolator: &mut dyn Isolator, scratch: &Path) {
    isolator.prepare(&Workload::noop(), scratch).unwrap();
    let mut instance = isolator.launch().unwrap();
    let result = instance.wait_ready(Duration::from_millis(1));
    assert!(result.is_err(), "ready within 1 ms?");
    let resources = instance.resources();
    drop(instance);
    for pid in &resources.pids {
        assert!(
            is_zombie_or_other(*pid) || !Path::new(&format!("/proc/{pid}")).exists(),
            "process {pid} survived Drop"
        );
    }
    for path in &resources.paths {
        assert!(!path.exists(), "{} survived Drop", path.display());
    }
}

/// A pid that now names a different process (reused) or is gone counts as gone; we compare the
/// command name against the engine's and the probe's.
fn is_zombie_or_other(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => {
            let state = stat.rfind(')').and_then(|at| stat[at + 2..].chars().next());
            state == Some('Z')
        }
    }
}

/// Drops an instance `wait` after launch, ready or not (to kill engines half-way through
/// their set-up); nothing it showed may survive.
pub fn drop_after(isolator: &mut dyn Isolator, wait: Duration) {
    let mut instance = isolator.launch().unwrap();
    let _ = instance.wait_ready(wait);
    let resources = instance.resources();
    drop(instance);
    for pid in &resources.pids {
        assert!(is_zombie_or_other(*pid), "process {pid} survived Drop");
    }
    for path in &resources.paths {
        assert!(!path.exists(), "{} survived Drop", path.display());
    }
}
