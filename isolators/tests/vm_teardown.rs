//! What `teardown` means for a VM row: when `wait_gone` returns, the kernel has destroyed the
//! VM, for our VMM and for each peer VMM on the bare guest. `kvm_destroy_vm` removes the VM's
//! directory under /sys/kernel/debug/kvm (named `<pid of the creating thread>-<VM fd>`), so
//! the test finds that directory while the guest holds and checks it is gone after
//! `wait_gone`. Traced on Linux 6.18: each VMM's last VM reference is dropped before its
//! process can be reaped (isobench-vmm and Firecracker close the VM before exiting; QEMU's
//! last thread, KVM's NX-recovery worker, frees it while exiting), so no row's VM is still
//! being freed after its reap.
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use isolators::external::vmms::cloud_hypervisor::cloud_hypervisor;
use isolators::external::vmms::firecracker::firecracker;
use isolators::external::vmms::qemu::qemu_microvm;
use isolators::microvm::{MicrovmIsolator, VmGuest};
use isolators::registry::IsolatorOptions;
use isolators::testing::{check_kvm_and_vmm, check_on_path, run_if};
use isolators::{Isolator, Workload};

const KVM_DEBUGFS: &str = "/sys/kernel/debug/kvm";
const TIMEOUT: Duration = Duration::from_secs(30);
/// How far above the VMM's pid the thread that creates its VM may be (ours creates it on a
/// helper thread started first thing; the peers on their main or VMM thread).
const CREATOR_TID_RANGE: i32 = 64;

/// The VM tests take turns: two cores are few.
static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// `Ok` when debugfs is mounted and KVM keeps its per-VM directories there.
fn check_kvm_debugfs() -> Result<(), String> {
    match std::fs::read_dir(KVM_DEBUGFS) {
        Ok(_) => Ok(()),
        Err(e) => Err(format!(
            "{KVM_DEBUGFS}: {e} — mount debugfs (mount -t debugfs nodev /sys/kernel/debug)"
        )),
    }
}

/// The per-VM directories now: (creating thread id, VM fd).
fn vm_dirs() -> BTreeSet<(i32, i32)> {
    let entries = std::fs::read_dir(KVM_DEBUGFS).expect("KVM's debugfs directory");
    entries
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            let (tid, fd) = name.split_once('-')?;
            Some((tid.parse().ok()?, fd.parse().ok()?))
        })
        .collect()
}

/// The descriptors of `pid` that are KVM VMs.
fn vm_fds(pid: i32) -> BTreeSet<i32> {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return BTreeSet::new();
    };
    entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let target = std::fs::read_link(entry.path()).ok()?;
            (target == Path::new("anon_inode:kvm-vm"))
                .then(|| entry.file_name().to_str()?.parse().ok())
                .flatten()
        })
        .collect()
}

/// Launches one bare guest, finds its VM's debugfs directory while it holds, releases it and
/// checks the directory is gone when `wait_gone` returns.
fn vm_is_destroyed_when_gone(isolator: &dyn Isolator) {
    let _turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let scratch = tempfile::tempdir().unwrap();
    let mut launcher = isolator.prepare(&Workload::noop(), scratch.path()).unwrap();
    let before = vm_dirs();
    let mut instance = launcher.launch().unwrap();
    instance.wait_ready(TIMEOUT).unwrap();
    let pids = instance.resources().pids;
    let vmm_vms: BTreeSet<(i32, i32)> = vm_dirs()
        .difference(&before)
        .copied()
        .filter(|&(tid, fd)| {
            pids.iter().any(|&pid| {
                (pid..pid + CREATOR_TID_RANGE).contains(&tid) && vm_fds(pid).contains(&fd)
            })
        })
        .collect();
    assert_eq!(
        vmm_vms.len(),
        1,
        "{}: expected one debugfs directory for the VM of {pids:?}, found {vmm_vms:?}",
        isolator.name()
    );
    instance.release().unwrap();
    instance.wait_gone(TIMEOUT).unwrap();
    // A VMM that reboots the guest (Cloud Hypervisor) made another VM: none may be left.
    let left: Vec<(i32, i32)> = vm_dirs()
        .into_iter()
        .filter(|&(tid, _)| {
            pids.iter()
                .any(|&pid| (pid..pid + CREATOR_TID_RANGE).contains(&tid))
        })
        .filter(|dir| !before.contains(dir))
        .collect();
    assert!(
        left.is_empty(),
        "{}: wait_gone returned while the kernel still had the VM(s) {left:?} (was {vmm_vms:?})",
        isolator.name()
    );
    eprintln!("{}: VM {vmm_vms:?} destroyed by wait_gone", isolator.name());
}

#[test]
fn microvm_vm_is_destroyed_when_gone() {
    let test = "microvm_vm_is_destroyed_when_gone";
    if !run_if(test, "kvm", check_kvm_and_vmm()) || !run_if(test, "debugfs", check_kvm_debugfs()) {
        return;
    }
    vm_is_destroyed_when_gone(&MicrovmIsolator::new(VmGuest::Bare, None, None));
}

#[test]
fn peer_vmm_vms_are_destroyed_when_gone() {
    let test = "peer_vmm_vms_are_destroyed_when_gone";
    if !run_if(test, "kvm", check_kvm_and_vmm()) || !run_if(test, "debugfs", check_kvm_debugfs()) {
        return;
    }
    let options = IsolatorOptions::default();
    if run_if(test, "qemu", check_on_path("qemu-system-x86_64")) {
        vm_is_destroyed_when_gone(&qemu_microvm(&options));
    }
    if run_if(test, "firecracker", check_on_path("firecracker")) {
        vm_is_destroyed_when_gone(&firecracker(&options));
    }
    if run_if(test, "cloud-hypervisor", check_on_path("cloud-hypervisor")) {
        vm_is_destroyed_when_gone(&cloud_hypervisor(&options));
    }
}
