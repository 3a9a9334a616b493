//! Nested-KVM test: the `microvm-linux` isolator boots Debian's cloud kernel with the probe
//! as /init on a real /dev/kvm — inside an outer Linux VM under QEMU TCG with emulated SVM,
//! since this host's KVM is software (kvm_pvm) and cannot run a Linux guest.
//!
//! The outer VM's /init is this very test binary (with the shared libraries it loads), run
//! with a filter that selects `inside_the_outer_vm`: it loads kvm-amd.ko and the modules it
//! depends on (the cache's `modules/order`, written by scripts/fetch-guest-kernel.sh from the
//! kernel's modules.dep; irqbypass.ko, kvm.ko, kvm-amd.ko for a cache that predates it),
//! drives the isolator code path (prepare, launch, ready, memory, release, gone), checks that
//! no VMM process is left, and prints a verdict line on the serial console. The outer VM's
//! plumbing is shared with harness/tests/nested_cli.rs: `isolators::testing::{outer_vm,
//! inside_vm}`.
use std::path::{Path, PathBuf};
use std::time::Duration;

use isolators::microvm::{MicrovmIsolator, VmGuest};
use isolators::testing::inside_vm::{self, is_inside};
use isolators::testing::outer_vm;
use isolators::{Host, Isolator, Workload};

const VERDICT: &str = "NESTED-KVM-VERDICT";
/// The whole outer run took about 25 s on our 2-core build host (TCG, emulated SVM); CI hosts
/// may be several times slower.
const OUTER_TIMEOUT: Duration = Duration::from_secs(300);

#[test]
fn microvm_linux_boots_in_a_nested_kvm_guest() {
    outer_vm::run_vmm_test_inside(
        "microvm_linux_boots_in_a_nested_kvm_guest",
        "inside_the_outer_vm",
        VERDICT,
        OUTER_TIMEOUT,
    );
}

/// Runs as PID 1 of the outer VM (selected by the kernel command line); a no-op elsewhere.
#[test]
fn inside_the_outer_vm() {
    if !is_inside() {
        return;
    }
    inside_vm::report_and_power_off(VERDICT, drive_isolator());
}

fn drive_isolator() -> Result<String, String> {
    inside_vm::mount_kernel_filesystems(false)?;
    inside_vm::load_kvm_modules()?;
    std::env::set_var("ISOBENCH_VMM", "/isobench-vmm");
    let host = Host::detect();
    let isolator = MicrovmIsolator::new(VmGuest::Linux, Some(PathBuf::from("/vmlinuz")), Some(256));
    if let isolators::Availability::Unavailable { reason } = isolator.availability(&host) {
        return Err(format!(
            "microvm-linux unavailable inside the outer VM: {reason} (KVM: {})",
            host.kvm.provider
        ));
    }
    let scratch = Path::new("/tmp/isobench-nested");
    std::fs::create_dir_all(scratch).map_err(|e| e.to_string())?;
    // touch:8 checks that the workload reaches the probe through the kernel command line.
    let mut launcher = isolator
        .prepare(&"touch:8".parse::<Workload>().unwrap(), scratch)
        .map_err(|e| format!("prepare: {e}"))?;
    let timeout = Duration::from_secs(240);
    let mut instance = launcher.launch().map_err(|e| format!("launch: {e}"))?;
    let ready = instance
        .wait_ready(timeout)
        .map_err(|e| format!("ready: {e}"))?;
    let startup_ms = (ready.ready_ns - instance.launched_ns()) as f64 / 1e6;
    if ready.report.get("held_bytes").map(String::as_str) != Some("8388608") {
        return Err(format!(
            "the probe did not run touch:8: it said {:?}",
            ready.report
        ));
    }
    let memory = instance.memory().map_err(|e| format!("memory: {e}"))?;
    if memory.guest_ram_resident_bytes.unwrap_or(0) < 8 << 20
        || memory.vmm_overhead_bytes.unwrap_or(0) == 0
    {
        return Err(format!("implausible memory split: {memory:?}"));
    }
    instance.release().map_err(|e| format!("release: {e}"))?;
    instance
        .wait_gone(timeout)
        .map_err(|e| format!("power-off: {e}"))?;
    drop(instance);
    // A second VM dropped while its kernel boots: Drop must kill and reap the VMM.
    let booting = launcher
        .launch()
        .map_err(|e| format!("second launch: {e}"))?;
    std::thread::sleep(Duration::from_millis(200));
    drop(booting);
    let leftovers = inside_vm::processes_named(&["isobench-vmm"])?;
    if !leftovers.is_empty() {
        return Err(format!("VMM processes left: {leftovers:?}"));
    }
    let phases: Vec<String> = ready
        .phases
        .iter()
        .map(|(name, ns)| format!("{name}={:.1}ms", *ns as f64 / 1e6))
        .collect();
    Ok(format!(
        "launch→ready {startup_ms:.1} ms (KVM {}; {}), probe said {:?}, VMM overhead {} KiB, guest RAM resident {} KiB",
        host.kvm.provider,
        phases.join(" "),
        ready.report,
        memory.vmm_overhead_bytes.unwrap_or(0) / 1024,
        memory.guest_ram_resident_bytes.unwrap_or(0) / 1024
    ))
}
