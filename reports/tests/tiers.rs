//! Which VMs each tier of the comparison takes: the OS tier the Linux-guest VMs (the best
//! hardware-KVM ones, else software KVM, else emulated), the floor tier the bare guest; a tier
//! without VMs says why in one line, and records older than the `guest` field still render.
mod common;

use common::{vm_row, with_vms};
use reports::comparison::{compare, Class, Property, Tier, Virtualization, CLASSES};
use reports::schema::{GuestKind, RunRecord, Status};

fn vm_cell(record: &RunRecord, tier: Tier, property: Property) -> reports::comparison::Cell {
    let column = CLASSES.iter().position(|c| *c == Class::Vm).unwrap();
    compare(record)
        .tier(tier)
        .row(property)
        .and_then(|row| row.cells[column].clone())
        .unwrap_or_else(|| panic!("{tier:?} {property:?}: no VM cell"))
}

#[test]
fn only_bare_vms_leave_the_os_tier_empty_and_say_why() {
    let record = with_vms(5, |r| {
        vec![
            vm_row(r, "microvm", GuestKind::Bare, &["software-kvm"], 99.0),
            vm_row(r, "qemu-microvm", GuestKind::Bare, &["software-kvm"], 480.0),
        ]
    });
    let comparison = compare(&record);
    assert_eq!(
        comparison.headline().vms,
        Err("no Linux-guest VM measured: none in this run".to_string())
    );
    let floor = comparison.tier(Tier::Floor);
    let group = floor.vms.as_ref().expect("bare VMs");
    assert_eq!(group.names, ["microvm", "qemu-microvm"]);
    assert_eq!(group.virtualization, Virtualization::SoftwareKvm);
    for row in &floor.rows {
        assert!(!row.verdict.starts_with("not measured"), "{}", row.verdict);
    }
    // The reason names the Linux-guest rows that were asked for but did not run.
    let mut record = record;
    let mut linux = vm_row(&record, "microvm-linux", GuestKind::Linux, &[], 300.0);
    linux.status = Status::Unavailable {
        reason: "/dev/kvm is software (kvm_pvm) here".into(),
    };
    linux.summary = None;
    linux.samples.clear();
    let mut failed = vm_row(&record, "qemu-tcg", GuestKind::Linux, &["emulated"], 4000.0);
    failed.summary = None;
    failed.samples.clear();
    record.isolators.extend([linux, failed]);
    assert_eq!(
        compare(&record).headline().vms,
        Err(
            "no Linux-guest VM measured: microvm-linux unavailable, qemu-tcg had no successful trial"
                .to_string()
        )
    );
    let text = reports::terminal::render(&record);
    assert!(
        text.contains("With an OS (the textbook's sense): containers against VMs that boot a Linux kernel — no Linux-guest VM measured: microvm-linux unavailable"),
        "{text}"
    );
}

#[test]
fn only_an_emulated_linux_vm_makes_the_os_tier_flagged_emulated() {
    let record = with_vms(5, |r| {
        vec![
            vm_row(r, "microvm", GuestKind::Bare, &["software-kvm"], 99.0),
            vm_row(r, "qemu-tcg", GuestKind::Linux, &["emulated"], 4100.0),
        ]
    });
    let comparison = compare(&record);
    let os = comparison.headline();
    assert_eq!(os.tier, Tier::Os);
    let group = os.vms.as_ref().expect("the emulated VM");
    assert_eq!(
        (group.names.as_slice(), group.virtualization),
        (&["qemu-tcg".to_string()][..], Virtualization::Emulated)
    );
    let startup = vm_cell(&record, Tier::Os, Property::Startup);
    assert!(startup.emulated && startup.flagged);
    assert_eq!(startup.text(), "4.10 s (qemu-tcg*, emulated)");
    let verdict = &os.row(Property::Startup).unwrap().verdict;
    assert!(
        verdict.contains("the VM is emulated (QEMU TCG, no hardware virtualization)")
            && !verdict.contains("software KVM"),
        "{verdict}"
    );
    assert!(
        os.heading().contains("qemu-tcg, emulated"),
        "{}",
        os.heading()
    );
    // The floor tier is unaffected: the bare guest, on software KVM.
    let floor = vm_cell(&record, Tier::Floor, Property::Startup);
    assert_eq!(floor.best_isolator.as_deref(), Some("microvm"));
    assert!(!floor.emulated);
}

#[test]
fn a_hardware_kvm_linux_vm_wins_over_software_kvm_and_emulated_ones() {
    let linux_vms = |r: &RunRecord| {
        vec![
            vm_row(r, "microvm", GuestKind::Bare, &[], 3.0),
            // Faster, but on software KVM or emulated: never preferred to hardware KVM.
            vm_row(
                r,
                "firecracker-linux",
                GuestKind::Linux,
                &["software-kvm"],
                50.0,
            ),
            vm_row(r, "qemu-tcg", GuestKind::Linux, &["emulated"], 4100.0),
            vm_row(r, "qemu-microvm-linux", GuestKind::Linux, &[], 480.0),
            vm_row(r, "microvm-linux", GuestKind::Linux, &["noisy"], 120.0),
        ]
    };
    let record = with_vms(5, linux_vms);
    let os = compare(&record).headline().clone();
    let group = os.vms.as_ref().expect("hardware Linux VMs");
    assert_eq!(group.virtualization, Virtualization::HardwareKvm);
    assert_eq!(group.names, ["qemu-microvm-linux", "microvm-linux"]);
    let startup = vm_cell(&record, Tier::Os, Property::Startup);
    assert_eq!(startup.text(), "120 ms (microvm-linux*), median 300 ms");
    let verdict = &os.row(Property::Startup).unwrap().verdict;
    assert!(
        !verdict.contains("software KVM") && !verdict.contains("emulated"),
        "{verdict}"
    );
    assert!(verdict.contains("VM results flagged: noisy"), "{verdict}");

    // Without hardware KVM, software KVM still beats emulation.
    let mut record = record;
    record
        .isolators
        .retain(|i| !i.name.ends_with("microvm-linux"));
    let os = compare(&record).headline().clone();
    let group = os.vms.as_ref().expect("a software-KVM Linux VM");
    assert_eq!(
        (group.names.as_slice(), group.virtualization),
        (
            &["firecracker-linux".to_string()][..],
            Virtualization::SoftwareKvm
        )
    );
    assert!(
        os.row(Property::Startup)
            .unwrap()
            .verdict
            .contains("software KVM and mean nothing"),
        "{:?}",
        os.row(Property::Startup)
    );
}

#[test]
fn a_linux_vm_counts_the_disk_its_record_gives() {
    let record = with_vms(5, |r| {
        let mut vm = vm_row(r, "microvm-linux", GuestKind::Linux, &[], 300.0);
        let disk = vm.disk.as_mut().unwrap();
        disk.runtime_apparent_bytes = 1_400_000; // the VMM
        disk.image_apparent_bytes = 15_000_000; // kernel + initramfs
        vec![vm]
    });
    let disk = vm_cell(&record, Tier::Os, Property::Disk);
    assert_eq!(disk.value, Some(16_400_000.0));
}

fn old_run() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/old-run.json");
    std::fs::read_to_string(path).expect("old-run.json")
}

#[test]
fn an_old_record_without_guest_fields_renders_both_tiers() {
    let record = RunRecord::from_json("old-run.json", &old_run()).expect("loads");
    assert!(record.isolators.iter().all(|i| i.guest.is_none()));
    let comparison = compare(&record);
    assert_eq!(
        comparison.headline().vms,
        Err("no Linux-guest VM measured: none in this run".to_string())
    );
    let floor = comparison.tier(Tier::Floor).vms.as_ref().expect("bare VMs");
    assert_eq!(floor.names, ["microvm", "qemu-microvm"]);
    let text = reports::terminal::render(&record);
    assert!(text.contains("no Linux-guest VM measured"), "{text}");
    assert!(text.contains("Floor (no OS)"), "{text}");
    let markdown = reports::markdown::render(&record);
    assert!(markdown.contains("### Floor (no OS)"), "{markdown}");

    // An old microvm-linux row (boundary "own guest kernel …") is inferred a Linux guest.
    let mut json: serde_json::Value = serde_json::from_str(&old_run()).unwrap();
    let vm = &mut json["isolators"][2];
    assert_eq!(vm["name"], "microvm");
    vm["name"] = "microvm-linux".into();
    vm["boundary"] = "own guest kernel + KVM hardware virtualization; VMM: isobench-vmm".into();
    let record = RunRecord::from_json("old-run.json", &json.to_string()).expect("loads");
    let os = compare(&record).headline().clone();
    let group = os.vms.as_ref().expect("the inferred Linux guest");
    assert_eq!(
        (group.names.as_slice(), group.virtualization),
        (
            &["microvm-linux".to_string()][..],
            Virtualization::SoftwareKvm
        )
    );
}

#[test]
fn the_comparison_json_has_both_tiers_with_raw_values() {
    let record = common::record(5, false);
    let json: serde_json::Value =
        serde_json::from_slice(&reports::comparison::json::render(&record)).expect("JSON");
    assert_eq!(json["comparison_version"], 1);
    assert_eq!(json["headline"], "os");
    let os = &json["tiers"][0];
    assert_eq!(os["tier"], "os");
    assert_eq!(os["vm_isolators"], serde_json::json!(["qemu-tcg"]));
    assert_eq!(os["virtualization"], "emulated");
    assert!(os["missing"].is_null());
    let startup = &os["rows"][0];
    assert_eq!(startup["property"], "startup_ns");
    assert_eq!(startup["vms"]["isolator"], "qemu-tcg");
    assert_eq!(startup["vms"]["emulated"], true);
    assert!(startup["vms"]["value"].as_f64().unwrap() > 1e9);
    assert!(startup["vm_to_container_ratio"].as_f64().unwrap() > 100.0);
    assert!(startup["verdict"].as_str().unwrap().contains("emulated"));
    let floor = &json["tiers"][1];
    assert_eq!(floor["tier"], "floor");
    assert_eq!(floor["virtualization"], "software-kvm");
    assert_eq!(floor["rows"][2]["property"], "disk_bytes");

    let bare_only = with_vms(5, |r| vec![vm_row(r, "microvm", GuestKind::Bare, &[], 5.0)]);
    let json: serde_json::Value =
        serde_json::from_slice(&reports::comparison::json::render(&bare_only)).expect("JSON");
    let os = &json["tiers"][0];
    assert!(os["vm_isolators"].is_null() && os["virtualization"].is_null());
    assert_eq!(
        os["missing"],
        "no Linux-guest VM measured: none in this run"
    );
    assert!(os["rows"][0]["vms"].is_null());
}

/// A user workload in its own rootfs has no process baseline: the memory row compares whole
/// footprints, says so, and its verdict does not call them overheads.
#[test]
fn without_a_process_baseline_the_memory_row_compares_whole_footprints() {
    let mut record = with_vms(5, |r| {
        vec![vm_row(
            r,
            "qemu-tcg",
            GuestKind::Linux,
            &["emulated"],
            7200.0,
        )]
    });
    record.isolators.retain(|i| i.name != "process");
    for isolator in &mut record.isolators {
        isolator.host_cost = None;
        if let Some(summary) = isolator.summary.as_mut() {
            summary.memory_overhead_bytes = None;
        }
    }
    let comparison = compare(&record);
    let os = comparison.headline();
    let row = os.row(Property::MemoryOverhead).expect("a memory row");
    assert_eq!(
        row.source.as_deref(),
        Some("whole footprint per instance (PSS + cgroup kernel), not an overhead: no process baseline in this run")
    );
    let vm = record.isolator("qemu-tcg").unwrap();
    let cell = vm_cell(&record, Tier::Os, Property::MemoryOverhead);
    assert_eq!(
        cell.value,
        Some(vm.summary.as_ref().unwrap().footprint_bytes.median)
    );
    assert!(
        row.verdict
            .contains("the memory (whole footprint) of containers"),
        "{}",
        row.verdict
    );
    assert!(!row.verdict.contains("memory overhead"), "{}", row.verdict);
}
