//! A probe's stderr never reaches the terminal unlabelled: the process and container
//! isolators hand it the scratch dir's probe-stderr.log, and `Prepared::probe_stderr` returns
//! what it wrote, once.
use std::time::Duration;

use isolators::container::ContainerIsolator;
use isolators::process::ProcessIsolator;
use isolators::protocol::Mode;
use isolators::testing::{check_root, run_if};
use isolators::{Isolator, Prepared, Workload};

/// More memory than any host has: the probe's allocation fails, and it says so on stderr.
const TOO_MUCH: Workload = Workload {
    mode: Mode::Touch { mib: 1_000_000 },
    startup_delay_us: 0,
};

fn probe_stderr_is_captured(isolator: &dyn Isolator) {
    let mut prepared = Prepared::new(isolator, &TOO_MUCH).unwrap();
    for _ in 0..2 {
        let mut instance = prepared.launch().unwrap();
        let outcome = instance.wait_ready(Duration::from_secs(30));
        assert!(
            outcome.is_err(),
            "{}: the probe cannot be ready",
            isolator.name()
        );
        drop(instance);
        let lines = prepared.probe_stderr();
        assert!(
            lines.iter().any(|l| l.contains("memory allocation")),
            "{}: the probe's own words: {lines:?}",
            isolator.name()
        );
        assert!(
            prepared.probe_stderr().is_empty(),
            "each line is returned once"
        );
    }
}

#[test]
fn process_probe_stderr_is_captured() {
    probe_stderr_is_captured(&ProcessIsolator::default());
}

#[test]
fn container_probe_stderr_is_captured() {
    if !run_if("container_probe_stderr_is_captured", "root", check_root()) {
        return;
    }
    probe_stderr_is_captured(&ContainerIsolator::new());
}
