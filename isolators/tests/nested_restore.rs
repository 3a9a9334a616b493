//! Nested-KVM test of warm starts: `microvm-restore` snapshots the bare guest and restores it
//! on a hardware-style KVM (kvm-amd on emulated SVM, inside an outer Linux VM under QEMU TCG),
//! where the vCPU state differs from this host's software KVM (kvm_pvm): other MSRs, a real
//! nested page table, SVM's handling of the pending port write at the snapshot.
//!
//! Same plumbing as nested_kvm.rs: the outer VM's /init is this test binary, selected by
//! `inside_the_outer_vm_restore`, which prints a verdict line on the serial console.
use std::path::Path;
use std::time::Duration;

use isolators::microvm::{find_vmm, MicrovmRestoreIsolator};
use isolators::testing::inside_vm::{self, is_inside};
use isolators::testing::outer_vm::{self, OuterImage, OuterVm};
use isolators::testing::run_if;
use isolators::{Host, Isolator, Workload};

const VERDICT: &str = "NESTED-RESTORE-VERDICT";
const OUTER_TIMEOUT: Duration = Duration::from_secs(300);

#[test]
fn microvm_restore_resumes_in_a_nested_kvm_guest() {
    let kernel_dir = outer_vm::kernel_dir();
    let ready = outer_vm::check_outer_vm(&kernel_dir)
        .and_then(|()| find_vmm().map(|_| ()).map_err(|e| e.to_string()));
    if !run_if(
        "microvm_restore_resumes_in_a_nested_kvm_guest",
        "nested",
        ready,
    ) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let initramfs = work.path().join("outer-initramfs.cpio");
    let mut image = OuterImage::new(&kernel_dir, &std::env::current_exe().unwrap()).unwrap();
    image
        .executable("isobench-vmm", &find_vmm().unwrap())
        .unwrap();
    std::fs::write(&initramfs, image.cpio()).unwrap();
    let outer = OuterVm {
        mem_mib: 1024,
        cpus: 1,
        timeout: OUTER_TIMEOUT,
    };
    let run = outer
        .run(&kernel_dir, &initramfs, "inside_the_outer_vm_restore", &[])
        .unwrap();
    eprintln!("nested run took {:.0} s", run.took.as_secs_f64());
    run.assert_passed(VERDICT);
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
    let host = Host::detect();
    let isolator = MicrovmRestoreIsolator::new(Some(64));
    if let isolators::Availability::Unavailable { reason } = isolator.availability(&host) {
        return Err(format!("microvm-restore unavailable: {reason}"));
    }
    let scratch = Path::new("/tmp/isobench-nested-restore");
    std::fs::create_dir_all(scratch).map_err(|e| e.to_string())?;
    let mut launcher = isolator
        .prepare(&Workload::noop(), scratch)
        .map_err(|e| format!("prepare (boot and snapshot): {e}"))?;
    let timeout = Duration::from_secs(60);
    let mut startups_ms = Vec::new();
    let mut phases = String::new();
    for round in 0..3 {
        let mut instance = launcher
            .launch()
            .map_err(|e| format!("launch {round}: {e}"))?;
        let ready = instance
            .wait_ready(timeout)
            .map_err(|e| format!("ready {round}: {e}"))?;
        if ready.report.get("mode").map(String::as_str) != Some("bare") {
            return Err(format!("restored guest said {:?}", ready.report));
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
            .map_err(|e| format!("power-off {round}: {e}"))?;
    }
    let leftovers = inside_vm::processes_named(&["isobench-vmm"])?;
    if !leftovers.is_empty() {
        return Err(format!("VMM processes left: {leftovers:?}"));
    }
    Ok(format!(
        "3 restores on KVM {}: launch→ready {startups_ms:.2?} ms; last phases {phases}",
        host.kvm.provider
    ))
}
