//! The `microvm` isolator on the real /dev/kvm: the bare guest from launch to gone, its
//! memory split, bad input, and that nothing is left behind.
use std::time::Duration;

use isolators::microvm::{find_vmm, GuestKind, MicrovmIsolator};
use isolators::testing::run_if;
use isolators::{Availability, Host, Isolator, Workload};

const TIMEOUT: Duration = Duration::from_secs(20);

/// The tests here count VMM processes, so they take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn kvm_ready(test: &str) -> bool {
    let host = Host::detect();
    let check = match (&host.kvm.problem, find_vmm()) {
        (Some(problem), _) => Err(problem.clone()),
        (None, Err(e)) => Err(e.to_string()),
        (None, Ok(_)) => Ok(()),
    };
    run_if(test, "kvm", check)
}

/// VMM processes that are children of this test process (other programs may run VMMs too).
fn vmm_processes() -> Vec<i32> {
    procfs::process::all_processes()
        .unwrap()
        .filter_map(|p| p.ok()?.stat().ok())
        .filter(|s| {
            s.comm == "isobench-vmm" && s.state != 'Z' && s.ppid == std::process::id() as i32
        })
        .map(|s| s.pid)
        .collect()
}

#[test]
fn bare_guest_boots_holds_and_powers_off() {
    let _turn = one_at_a_time();
    if !kvm_ready("bare_guest_boots_holds_and_powers_off") {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let mut isolator = MicrovmIsolator::new(GuestKind::Bare, None, None);
    let disk = isolator
        .prepare(&Workload::parse("touch:4").unwrap(), scratch.path())
        .unwrap();
    assert!(
        disk.image.apparent_bytes < 4096,
        "the bare guest is a few hundred bytes: {disk:?}"
    );
    let mut instance = isolator.launch().unwrap();
    let ready = instance.wait_ready(TIMEOUT).unwrap();
    assert!(ready.ready_ns > instance.launched_ns());
    let names: Vec<&str> = ready.phases.iter().map(|(n, _)| n.as_str()).collect();
    for phase in [
        "vmm-exec",
        "kvm-create",
        "memory",
        "kernel-load",
        "first-run",
        "guest-ready",
    ] {
        assert!(
            names.contains(&phase),
            "phase {phase} missing from {names:?}"
        );
    }
    let memory = instance.memory().unwrap();
    let guest_ram = memory
        .guest_ram_resident_bytes
        .expect("guest RAM is reported");
    assert!(
        guest_ram >= 4 << 20,
        "touch:4 faults in at least 4 MiB of guest RAM: {guest_ram}"
    );
    let overhead = memory.vmm_overhead_bytes.expect("VMM overhead is reported");
    assert!(
        overhead > 0 && overhead < 16 << 20,
        "VMM overhead {overhead}"
    );
    instance.release().unwrap();
    instance.wait_gone(TIMEOUT).unwrap();
    drop(instance);
    assert!(
        vmm_processes().is_empty(),
        "VMM processes left: {:?}",
        vmm_processes()
    );
}

#[test]
fn many_launches_and_drops_leave_no_vmm() {
    let _turn = one_at_a_time();
    if !kvm_ready("many_launches_and_drops_leave_no_vmm") {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let mut isolator = MicrovmIsolator::new(GuestKind::Bare, None, None);
    isolator.prepare(&Workload::noop(), scratch.path()).unwrap();
    for round in 0..100 {
        let mut instance = isolator.launch().unwrap();
        instance.wait_ready(TIMEOUT).unwrap();
        if round % 2 == 0 {
            instance.release().unwrap();
            instance.wait_gone(TIMEOUT).unwrap();
        }
        // Odd rounds: dropped while holding, which must kill and reap the VMM.
    }
    assert!(
        vmm_processes().is_empty(),
        "VMM processes left: {:?}",
        vmm_processes()
    );
}

#[test]
fn bad_kernels_fail_in_one_line_without_hanging() {
    let _turn = one_at_a_time();
    if !kvm_ready("bad_kernels_fail_in_one_line_without_hanging") {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let random = scratch.path().join("random.bin");
    std::fs::write(
        &random,
        (0..65536u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let mut isolator = MicrovmIsolator::new(GuestKind::Linux, Some(random), Some(64));
    let prepared = isolator.prepare(&Workload::noop(), scratch.path());
    assert!(prepared.is_ok(), "prepare only writes files: {prepared:?}");
    let mut instance = isolator.launch().unwrap();
    let error = instance.wait_ready(TIMEOUT).unwrap_err().to_string();
    assert!(
        error.contains("not an ELF, PVH ELF or bzImage") || error.contains("kernel"),
        "{error}"
    );
    assert_eq!(error.lines().count(), 1, "{error}");
    drop(instance);

    let mut missing =
        MicrovmIsolator::new(GuestKind::Linux, Some(scratch.path().join("nope")), None);
    let error = missing
        .prepare(&Workload::noop(), scratch.path())
        .unwrap_err()
        .to_string();
    assert!(error.contains("no such file"), "{error}");
    assert!(
        vmm_processes().is_empty(),
        "VMM processes left: {:?}",
        vmm_processes()
    );
}

#[test]
fn linux_guest_on_software_kvm_is_unavailable_with_the_reason() {
    let host = Host::detect();
    if !host.kvm.is_software() {
        eprintln!("SKIP linux_guest_on_software_kvm_is_unavailable_with_the_reason: this host's KVM is {}", host.kvm.provider);
        return;
    }
    let isolator = MicrovmIsolator::new(GuestKind::Linux, None, None);
    match isolator.availability(&host) {
        Availability::Unavailable { reason } => assert!(
            reason.contains("software") && reason.contains("hardware KVM"),
            "{reason}"
        ),
        Availability::Available => panic!("microvm-linux must be unavailable on software KVM"),
    }
}
