//! VMM adapters (qemu -M microvm, Firecracker, Cloud Hypervisor) booting the bare PVH guest:
//! lifecycles with guest RAM split from VMM overhead, never-ready cleanup, availability text.
mod external_support;

use std::path::PathBuf;

use isolators::external::qemu::QemuMicrovmIsolator;
use isolators::registry::RegistryOptions;
use isolators::testing::{check_on_path, run_if};
use isolators::{Availability, Host, Isolator, Workload};

fn check_kvm() -> Result<(), String> {
    match Host::detect().kvm.problem {
        None => Ok(()),
        Some(problem) => Err(problem),
    }
}

#[test]
fn qemu_microvm_lifecycle() {
    if !run_if("qemu_microvm_lifecycle", "kvm", check_kvm())
        || !run_if(
            "qemu_microvm_lifecycle",
            "qemu",
            check_on_path("qemu-system-x86_64"),
        )
    {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let mut isolator = QemuMicrovmIsolator::new(&RegistryOptions::default());
    let (startup_ns, memory) = external_support::lifecycle(&mut isolator, scratch.path());
    eprintln!("qemu-microvm startup {} µs, {memory:?}", startup_ns / 1000);
    assert!(memory.guest_ram_resident_bytes.is_some(), "{memory:?}");
    assert!(memory.vmm_overhead_bytes.unwrap() > 0, "{memory:?}");
    external_support::never_ready_cleans_up(&mut isolator, scratch.path());
}

#[test]
fn qemu_microvm_refuses_workloads_the_bare_guest_cannot_run() {
    let scratch = tempfile::tempdir().unwrap();
    let mut isolator = QemuMicrovmIsolator::new(&RegistryOptions::default());
    if !isolator.availability(&Host::detect()).is_available() {
        return;
    }
    let error = isolator
        .prepare(&Workload::parse("cpu:5").unwrap(), scratch.path())
        .unwrap_err();
    assert!(error.to_string().contains("noop and touch"), "{error}");
}

#[test]
fn qemu_wrong_binary_is_refused() {
    let mut options = RegistryOptions::default();
    options
        .engine_paths
        .insert("qemu-microvm".into(), PathBuf::from("/bin/echo"));
    let isolator = QemuMicrovmIsolator::new(&options);
    if check_kvm().is_err() {
        return;
    }
    match isolator.availability(&Host::detect()) {
        Availability::Unavailable { reason } => {
            assert!(reason.contains("/bin/echo is not qemu-microvm"), "{reason}")
        }
        Availability::Available => panic!("/bin/echo accepted as qemu"),
    }
}

#[test]
fn firecracker_missing_says_where_to_get_it() {
    if check_on_path("firecracker").is_ok() {
        return;
    }
    let isolator =
        isolators::external::firecracker::FirecrackerIsolator::new(&RegistryOptions::default());
    let host = Host::detect();
    if host.kvm.problem.is_some() {
        return;
    }
    match isolator.availability(&host) {
        Availability::Unavailable { reason } => assert!(
            reason.starts_with("firecracker not found — download a release binary")
                && reason.contains("--engine firecracker=PATH"),
            "{reason}"
        ),
        Availability::Available => panic!("firecracker is not on PATH"),
    }
}

#[test]
fn firecracker_config_names_the_guest() {
    let config =
        isolators::external::firecracker::firecracker_config(std::path::Path::new("/g.elf"), 128);
    assert_eq!(config["boot-source"]["kernel_image_path"], "/g.elf");
    assert_eq!(config["machine-config"]["mem_size_mib"], 128);
}

#[test]
fn firecracker_lifecycle() {
    if !run_if("firecracker_lifecycle", "kvm", check_kvm())
        || !run_if(
            "firecracker_lifecycle",
            "firecracker",
            check_on_path("firecracker"),
        )
    {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let mut isolator =
        isolators::external::firecracker::FirecrackerIsolator::new(&RegistryOptions::default());
    let (startup_ns, memory) = external_support::lifecycle(&mut isolator, scratch.path());
    eprintln!("firecracker startup {} µs, {memory:?}", startup_ns / 1000);
    assert!(memory.guest_ram_resident_bytes.is_some(), "{memory:?}");
    external_support::never_ready_cleans_up(&mut isolator, scratch.path());
}

#[test]
fn cloud_hypervisor_lifecycle() {
    if !run_if("cloud_hypervisor_lifecycle", "kvm", check_kvm())
        || !run_if(
            "cloud_hypervisor_lifecycle",
            "cloud-hypervisor",
            check_on_path("cloud-hypervisor"),
        )
    {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let mut isolator = isolators::external::cloud_hypervisor::CloudHypervisorIsolator::new(
        &RegistryOptions::default(),
    );
    let (startup_ns, memory) = external_support::lifecycle(&mut isolator, scratch.path());
    eprintln!(
        "cloud-hypervisor startup {} µs, {memory:?}",
        startup_ns / 1000
    );
    external_support::never_ready_cleans_up(&mut isolator, scratch.path());
}
