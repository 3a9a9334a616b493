//! VMM adapters (qemu -M microvm, Firecracker, Cloud Hypervisor) booting the bare PVH guest:
//! lifecycles with guest RAM split from VMM overhead, never-ready cleanup, availability text.
mod external_support;

use std::path::PathBuf;
use std::time::Duration;

use isolators::external::vmms::cloud_hypervisor::cloud_hypervisor;
use isolators::external::vmms::firecracker::{firecracker, firecracker_config};
use isolators::external::vmms::qemu::{qemu_microvm, qemu_tcg};
use isolators::external::vmms::GuestImage;
use isolators::registry::IsolatorOptions;
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
    let isolator = qemu_microvm(&IsolatorOptions::default());
    let (startup_ns, memory) = external_support::lifecycle(&isolator, scratch.path(), 1);
    eprintln!("qemu-microvm startup {} µs, {memory:?}", startup_ns / 1000);
    assert!(memory.guest_ram_resident_bytes.is_some(), "{memory:?}");
    assert!(memory.vmm_overhead_bytes.unwrap() > 0, "{memory:?}");
    external_support::never_ready_cleans_up(&isolator, scratch.path());
}

#[test]
fn qemu_microvm_refuses_workloads_the_bare_guest_cannot_run() {
    let scratch = tempfile::tempdir().unwrap();
    let isolator = qemu_microvm(&IsolatorOptions::default());
    if !isolator.availability(&Host::detect()).is_available() {
        return;
    }
    let error = isolator
        .prepare(&"cpu:5".parse::<Workload>().unwrap(), scratch.path())
        .expect_err("the bare guest in qemu runs only noop and touch");
    assert!(error.to_string().contains("noop and touch"), "{error}");
}

#[test]
fn qemu_wrong_binary_is_refused() {
    let mut options = IsolatorOptions::default();
    options
        .engine_paths
        .insert("qemu-microvm".into(), PathBuf::from("/bin/echo"));
    let isolator = qemu_microvm(&options);
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
    let isolator = firecracker(&IsolatorOptions::default());
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
    let guest = GuestImage {
        kernel: PathBuf::from("/g.elf"),
        initrd: None,
        cmdline: String::new(),
        mem_mib: 128,
    };
    let config = firecracker_config(&guest);
    assert_eq!(config["boot-source"]["kernel_image_path"], "/g.elf");
    assert_eq!(config["machine-config"]["mem_size_mib"], 128);
    assert!(config["boot-source"].get("initrd_path").is_none());
    let linux = GuestImage {
        initrd: Some(PathBuf::from("/i.cpio")),
        cmdline: "console=ttyS0".into(),
        ..guest
    };
    let config = firecracker_config(&linux);
    assert_eq!(config["boot-source"]["initrd_path"], "/i.cpio");
    assert_eq!(config["boot-source"]["boot_args"], "console=ttyS0");
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
    let isolator = firecracker(&IsolatorOptions::default());
    let (startup_ns, memory) = external_support::lifecycle(&isolator, scratch.path(), 1);
    eprintln!("firecracker startup {} µs, {memory:?}", startup_ns / 1000);
    assert!(memory.guest_ram_resident_bytes.is_some(), "{memory:?}");
    external_support::never_ready_cleans_up(&isolator, scratch.path());
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
    let isolator = cloud_hypervisor(&IsolatorOptions::default());
    let (startup_ns, memory) = external_support::lifecycle(&isolator, scratch.path(), 1);
    eprintln!(
        "cloud-hypervisor startup {} µs, {memory:?}",
        startup_ns / 1000
    );
    external_support::never_ready_cleans_up(&isolator, scratch.path());
}

fn check_guest_kernel() -> Result<(), String> {
    isolators::microvm::guest::find_kernel(None)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The emulated VM: the Linux guest (the probe as /init) under QEMU's TCG, on any host QEMU
/// runs on — this one's software KVM included. Its lifecycle, the `init` phase from the
/// guest's own clock, a launch dropped while the kernel boots, and a bad kernel refused early.
#[test]
fn qemu_tcg_boots_the_linux_guest_emulated() {
    let test = "qemu_tcg_boots_the_linux_guest_emulated";
    if !run_if(test, "qemu", check_on_path("qemu-system-x86_64"))
        || !run_if(test, "guest-kernel", check_guest_kernel())
    {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let isolator = qemu_tcg(&IsolatorOptions::default());
    assert!(isolator.emulated());
    assert_eq!(isolator.guest(), isolators::GuestKind::Linux);
    assert!(isolator.describe().boundary.contains("TCG emulation"));
    let (startup_ns, memory) = external_support::lifecycle(&isolator, scratch.path(), 1);
    eprintln!("qemu-tcg startup {} ms, {memory:?}", startup_ns / 1_000_000);
    assert!(
        memory.guest_ram_resident_bytes.unwrap() > 4 << 20,
        "{memory:?}"
    );
    assert!(memory.vmm_overhead_bytes.unwrap() > 0, "{memory:?}");

    let mut launcher = isolator
        .prepare(&"touch:4".parse::<Workload>().unwrap(), scratch.path())
        .unwrap();
    let mut instance = launcher.launch().unwrap();
    let ready = instance.wait_ready(Duration::from_secs(120)).unwrap();
    assert_eq!(
        ready.report.get("held_bytes").map(String::as_str),
        Some("4194304")
    );
    let at = |name: &str| {
        ready
            .phases
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, at)| at)
    };
    let startup = ready.ready_ns - instance.launched_ns();
    let init = at("init").unwrap_or_else(|| panic!("no init phase: {ready:?}"));
    assert!(init > 0 && init < startup, "{ready:?}");
    let kernel_boot: u64 = ready.report["init_boottime_ns"].parse().unwrap();
    assert!(kernel_boot > 0, "{ready:?}");
    instance.release().unwrap();
    instance.wait_gone(Duration::from_secs(60)).unwrap();
    drop(instance);
    external_support::drop_after(&isolator, scratch.path(), Duration::from_millis(300));
    external_support::assert_nothing_runs_from(scratch.path());

    let junk = scratch.path().join("junk-kernel");
    std::fs::write(&junk, vec![0x5a; 8192]).unwrap();
    let options = IsolatorOptions {
        kernel: Some(junk),
        ..Default::default()
    };
    let error = qemu_tcg(&options)
        .prepare(&Workload::noop(), scratch.path())
        .expect_err("a file of junk is no kernel");
    assert!(
        error.to_string().contains("not a kernel image") && !error.to_string().contains('\n'),
        "{error}"
    );
}
