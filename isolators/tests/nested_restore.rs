//! Nested-KVM test of warm starts: `microvm-restore` snapshots the bare guest and restores it
//! on a hardware-style KVM (kvm-amd on emulated SVM, inside an outer Linux VM under QEMU TCG),
//! where the vCPU state differs from this host's software KVM (kvm_pvm): other MSRs, a real
//! nested page table, SVM's handling of the pending port write at the snapshot. Then the same
//! for the Linux guest (`microvm-linux-restore`, which software KVM cannot run), beside cold
//! `microvm-linux` boots for the ratio. `microvm-restore-prestarted` restores the bare guest into
//! VMMs started ahead (`--start-fd`) there too.
//!
//! Same plumbing as nested_kvm.rs: the outer VM's /init is this test binary, selected by
//! `inside_the_outer_vm_restore`, which prints a verdict line on the serial console.
use std::path::{Path, PathBuf};
use std::time::Duration;

use isolators::microvm::{MicrovmIsolator, MicrovmRestoreIsolator, VmGuest};
use isolators::testing::inside_vm::{self, is_inside};
use isolators::testing::outer_vm;
use isolators::{Host, Isolator, Workload};

const VERDICT: &str = "NESTED-RESTORE-VERDICT";
/// A run takes 11–30 s; a hang (seen once in CI) is cut short and retried once.
const OUTER_TIMEOUT: Duration = Duration::from_secs(150);
const SCRATCH: &str = "/tmp/isobench-nested-restore";

#[test]
fn microvm_restore_resumes_in_a_nested_kvm_guest() {
    outer_vm::run_vmm_test_inside(
        "microvm_restore_resumes_in_a_nested_kvm_guest",
        "inside_the_outer_vm_restore",
        VERDICT,
        OUTER_TIMEOUT,
    );
}

/// Runs as PID 1 of the outer VM (selected by the kernel command line); a no-op elsewhere.
#[test]
fn inside_the_outer_vm_restore() {
    if !is_inside() {
        return;
    }
    inside_vm::report_and_power_off(VERDICT, drive_restores());
}

fn drive_restores() -> Result<String, String> {
    inside_vm::mount_kernel_filesystems(false)?;
    inside_vm::load_kvm_modules()?;
    std::env::set_var("ISOBENCH_VMM", "/isobench-vmm");
    let bare = launches(&MicrovmRestoreIsolator::new(Some(64)), "bare", 3)?;
    past_the_ready_signal(Path::new(SCRATCH).join("bare/snapshot").as_path())?;
    let prestarted = launches(
        &MicrovmRestoreIsolator::prestarted(Some(64)),
        "prestarted",
        3,
    )?;
    let kernel = Some(PathBuf::from("/vmlinuz"));
    let cold = launches(
        &MicrovmIsolator::new(VmGuest::Linux, kernel.clone(), Some(256)),
        "cold",
        2,
    )?;
    let warm = launches(
        &MicrovmRestoreIsolator::linux(kernel, Some(256)),
        "linux",
        3,
    )?;
    let leftovers = inside_vm::processes_named(&["isobench-vmm"])?;
    if !leftovers.is_empty() {
        return Err(format!("VMM processes left: {leftovers:?}"));
    }
    let ratio = warm.1.iter().cloned().fold(f64::MAX, f64::min)
        / cold.1.iter().cloned().fold(f64::MAX, f64::min);
    Ok(format!(
        "{}; {}; {}; {}; Linux restore/cold (best of each) {ratio:.3}",
        bare.0, prestarted.0, cold.0, warm.0
    ))
}

/// Prepares `isolator` and runs `count` launches to ready, release and gone; returns a summary
/// and the startups in ms.
fn launches(
    isolator: &dyn Isolator,
    scratch_name: &str,
    count: usize,
) -> Result<(String, Vec<f64>), String> {
    let host = Host::detect();
    let name = isolator.name().to_string();
    if let isolators::Availability::Unavailable { reason } = isolator.availability(&host) {
        return Err(format!("{name} unavailable: {reason}"));
    }
    let scratch = Path::new(SCRATCH).join(scratch_name);
    std::fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
    eprintln!("{name}: prepare");
    let mut launcher = isolator
        .prepare(&Workload::noop(), &scratch)
        .map_err(|e| format!("{name} prepare: {e}"))?;
    let timeout = Duration::from_secs(120);
    let mut startups_ms = Vec::new();
    let mut phases = String::new();
    for round in 0..count {
        // Progress on the console, so a hang shows where it happened.
        eprintln!("{name}: launch {round}");
        let mut instance = launcher
            .launch()
            .map_err(|e| format!("{name} launch {round}: {e}"))?;
        let ready = instance
            .wait_ready(timeout)
            .map_err(|e| format!("{name} ready {round}: {e}"))?;
        if !ready.report.contains_key("mode") {
            return Err(format!("{name}: the guest said {:?}", ready.report));
        }
        let names: Vec<&str> = ready.phases.iter().map(|(n, _)| n.as_str()).collect();
        let restore_phases = [
            "vmm-exec",
            "snapshot-map",
            "restore-state",
            "resume",
            "guest-ready",
        ];
        if name.ends_with("-restore") && names != restore_phases {
            return Err(format!("{name}: phases {names:?}, not {restore_phases:?}"));
        }
        // Started ahead: the phases start at the start byte instead of the exec.
        if name.ends_with("-prestarted") && names[0] != "restore-start" {
            return Err(format!(
                "{name}: phases {names:?} do not start at restore-start"
            ));
        }
        startups_ms.push((ready.ready_ns - instance.launched_ns()) as f64 / 1e6);
        phases = ready
            .phases
            .iter()
            .map(|(name, ns)| format!("{name}={:.2}ms", *ns as f64 / 1e6))
            .collect::<Vec<_>>()
            .join(" ");
        // The resumed guest takes the serial interrupt through the restored IOAPIC and LAPIC,
        // wakes from hlt and powers off: wait_gone fails on anything else.
        instance.release().map_err(|e| format!("release: {e}"))?;
        instance
            .wait_gone(timeout)
            .map_err(|e| format!("{name} power-off {round}: {e}"))?;
    }
    let summary = format!(
        "{name} on KVM {}: launch→ready {startups_ms:.2?} ms, last phases {phases}",
        host.kvm.provider
    );
    Ok((summary, startups_ms))
}

/// The bare guest's snapshot was taken after KVM completed its boot-timer write: `rip` (in the
/// state file's `kvm_regs`, right after the 68-byte header; rip follows 16 general registers)
/// is just past `mov al, 123 · mov dx, 0x3f0 · out dx, al` in guest memory. On SVM and VMX,
/// KVM advances `rip` past a port write only when KVM_RUN is entered again.
fn past_the_ready_signal(snapshot: &Path) -> Result<(), String> {
    let state = std::fs::read(snapshot.join("vm.state")).map_err(|e| e.to_string())?;
    let at = 68 + 16 * 8;
    let rip = u64::from_le_bytes(state[at..at + 8].try_into().unwrap());
    let memory = std::fs::read(snapshot.join("memory")).map_err(|e| e.to_string())?;
    let ready_write = [0xB0, 0x7B, 0x66, 0xBA, 0xF0, 0x03, 0xEE];
    let before = rip
        .checked_sub(7)
        .and_then(|start| memory.get(start as usize..rip as usize));
    match before {
        Some(bytes) if bytes == ready_write => Ok(()),
        other => Err(format!(
            "snapshot rip {rip:#x} is not just past the boot-timer write (bytes before it: {other:02x?})"
        )),
    }
}
