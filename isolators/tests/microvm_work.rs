//! The bare guest's own workloads on the real /dev/kvm: cpu and mem run in the guest, the VMM
//! times them from the guest's work stamps, and what the bare guest cannot run is refused.
use std::time::Duration;

use isolators::microvm::{MicrovmIsolator, VmGuest};
use isolators::testing::{check_kvm_and_vmm, run_if};
use isolators::{Error, Host, Isolator, Workload};

/// One unit of cpu or mem takes ~8 s on software KVM (every guest instruction is emulated).
const TIMEOUT: Duration = Duration::from_secs(60);

fn kvm_ready(test: &str) -> bool {
    run_if(test, "kvm", check_kvm_and_vmm())
}

/// Launches the bare guest with `mode`, returns its reported work_ns and launch→ready.
fn run_work(mode: &str) -> (u64, u64) {
    let scratch = tempfile::tempdir().unwrap();
    let isolator = MicrovmIsolator::new(VmGuest::Bare, None, None);
    let mut launcher = isolator
        .prepare(&mode.parse::<Workload>().unwrap(), scratch.path())
        .unwrap();
    let mut instance = launcher.launch().unwrap();
    let ready = instance.wait_ready(TIMEOUT).unwrap();
    let work_ns: u64 = ready
        .report
        .get("work_ns")
        .unwrap_or_else(|| panic!("{mode}: no work_ns in {ready:?}"))
        .parse()
        .unwrap();
    let startup_ns = ready.ready_ns - instance.launched_ns();
    instance.release().unwrap();
    instance.wait_gone(TIMEOUT).unwrap();
    (work_ns, startup_ns)
}

#[test]
fn cpu_and_mem_are_timed_by_the_guests_work_stamps() {
    if !kvm_ready("cpu_and_mem_are_timed_by_the_guests_work_stamps") {
        return;
    }
    let (noop_ns, _) = run_work("noop");
    for mode in ["cpu:1", "mem:1"] {
        let (work_ns, startup_ns) = run_work(mode);
        eprintln!(
            "bare guest {mode}: work {:.2} ms, launch→ready {:.2} ms (noop work {} µs)",
            work_ns as f64 / 1e6,
            startup_ns as f64 / 1e6,
            noop_ns / 1000
        );
        assert!(
            work_ns < startup_ns,
            "{mode}: the work happens before ready"
        );
        // A million xorshift rounds, or 9 MiB written, cannot take less than 0.1 ms anywhere,
        // while an empty work window is a couple of port exits.
        assert!(
            work_ns > 100_000 && work_ns > 10 * noop_ns,
            "{mode}: {work_ns} ns of work vs {noop_ns} ns for noop"
        );
    }
}

#[test]
fn what_the_bare_guest_cannot_run_is_refused_in_one_line() {
    let scratch = tempfile::tempdir().unwrap();
    let isolator = MicrovmIsolator::new(VmGuest::Bare, None, None);
    for mode in ["syscall:10", "io:64"] {
        match isolator.prepare(&mode.parse::<Workload>().unwrap(), scratch.path()) {
            Err(Error::BadInput(message)) => {
                assert!(message.contains("microvm-linux"), "{message}");
                assert!(!message.contains('\n'), "{message}");
            }
            other => panic!("{mode}: {other:?}"),
        }
    }
    let delayed = Workload::noop().with_startup_delay_us(100);
    assert!(matches!(
        isolator.prepare(&delayed, scratch.path()),
        Err(Error::BadInput(_))
    ));
    let big = isolator.prepare(&"cpu:50".parse::<Workload>().unwrap(), scratch.path());
    if Host::detect().kvm.is_software() {
        match big {
            Err(Error::BadInput(message)) => {
                assert!(
                    message.contains("emulated") && message.contains("cpu:1"),
                    "{message}"
                )
            }
            other => panic!("cpu:50 on software KVM: {other:?}"),
        }
    } else {
        assert!(big.is_ok(), "{big:?}");
    }
}

/// Guest RAM beyond what isobench-vmm maps (65536 MiB) is refused when preparing, in one line,
/// not by the VMM in every trial (it printed its usage and exited, and each trial failed).
#[test]
fn guest_ram_beyond_the_vmm_is_refused_when_preparing() {
    let scratch = tempfile::tempdir().unwrap();
    let isolator = MicrovmIsolator::new(VmGuest::Bare, None, Some(70_000));
    match isolator.prepare(&Workload::noop(), scratch.path()) {
        Err(Error::BadInput(message)) => {
            assert!(message.contains("70000 MiB of guest RAM"), "{message}");
            assert!(message.contains("65536"), "{message}");
            assert!(!message.contains('\n'), "{message}");
        }
        other => panic!("70000 MiB: {other:?}"),
    }
}
