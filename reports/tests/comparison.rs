//! The "VMs vs containers" table: values, ratios and verdicts follow the record's numbers,
//! missing classes say "not measured", and software-KVM and emulated VM timings are called out.
//! (Which VMs each tier takes: tests/tiers.rs.)
mod common;

use reports::comparison::{compare, Class, Property, Tier, CLASSES};
use reports::{Kind, RunRecord};

fn column(class: Class) -> usize {
    CLASSES.iter().position(|c| *c == class).expect("listed")
}

fn set_work_ns(record: &mut RunRecord, name: &str, work_ns: u64) {
    let isolator = record
        .isolators
        .iter_mut()
        .find(|i| i.name == name)
        .expect("isolator");
    for sample in &mut isolator.samples {
        sample.probe_report.insert("work_ns", &work_ns.to_string());
    }
}

#[test]
fn fixture_rows_compare_the_best_of_each_class() {
    let record = common::record(10, false);
    let comparison = compare(&record);
    let table = comparison.tier(Tier::Floor);
    let properties: Vec<Property> = table.rows.iter().map(|r| r.property).collect();
    assert_eq!(
        properties,
        [
            Property::Startup,
            Property::MemoryOverhead,
            Property::Disk,
            Property::Kernel,
            Property::Boundary
        ],
        "a noop run has no runtime row"
    );
    let startup = table.row(Property::Startup).expect("startup row");
    let median = |name: &str| record.isolator(name).unwrap().startup_median_ns().unwrap();
    let expected = median("microvm") / median("container");
    assert!((startup.ratio.expect("ratio") - expected).abs() < 1e-9);
    let vm = startup.cells[column(Class::Vm)].as_ref().expect("VM cell");
    assert_eq!(vm.best_isolator.as_deref(), Some("microvm"));
    assert!(
        vm.flagged && vm.text().contains("microvm*"),
        "{}",
        vm.text()
    );
    assert_eq!(
        vm.isolators, 2,
        "firecracker is unavailable and not counted, qemu-tcg is in the OS tier"
    );
    let sandbox = startup.cells[column(Class::Sandbox)]
        .as_ref()
        .expect("sandbox cell");
    assert_eq!(
        (sandbox.best_isolator.as_deref(), sandbox.median.as_ref()),
        (Some("runsc"), None)
    );
    assert!(
        startup.verdict.starts_with("containers start"),
        "{}",
        startup.verdict
    );
    assert!(
        startup.verdict.contains("software KVM and mean nothing"),
        "{}",
        startup.verdict
    );
    assert!(startup
        .verdict
        .contains("textbook: containers start in seconds, VMs in minutes"));
    let disk = table.row(Property::Disk).expect("disk row");
    assert!(
        disk.verdict.starts_with("VMs need") && !disk.verdict.contains("software KVM"),
        "{}",
        disk.verdict
    );
    let kernel = table.row(Property::Kernel).expect("kernel row");
    assert!(
        kernel.verdict.starts_with("the bare guest boots no kernel"),
        "{}",
        kernel.verdict
    );
    assert_eq!(
        kernel.cells[column(Class::Vm)].as_ref().unwrap().best,
        "none (bare guest)"
    );
    let os_kernel = comparison
        .headline()
        .row(Property::Kernel)
        .expect("kernel row");
    assert!(
        os_kernel
            .verdict
            .starts_with("confirmed here: the VM boots its own kernel"),
        "{}",
        os_kernel.verdict
    );
}

#[test]
fn a_missing_class_is_not_measured() {
    let mut record = common::record(5, false);
    record.isolators.retain(|i| i.kind != Kind::Microvm);
    for tier in compare(&record).tiers {
        let missing = tier.vms.as_ref().expect_err("no VM");
        assert!(
            missing.ends_with("VM measured: none in this run"),
            "{missing}"
        );
        for row in tier.rows {
            assert!(row.cells[column(Class::Vm)].is_none(), "{:?}", row.property);
            assert!(
                row.cells[column(Class::Container)].is_some(),
                "{:?}",
                row.property
            );
            assert_eq!(row.ratio, None);
            assert!(
                row.verdict.starts_with("not measured: no VM result"),
                "{}",
                row.verdict
            );
        }
    }
}

#[test]
fn hardware_kvm_timings_carry_no_caveat() {
    let mut record = common::record(5, false);
    for isolator in &mut record.isolators {
        isolator.flags.clear();
    }
    let comparison = compare(&record);
    assert!(comparison
        .tiers
        .iter()
        .flat_map(|t| &t.rows)
        .all(|r| !r.verdict.contains("software KVM")));
    let table = comparison.tier(Tier::Floor);
    let vm = table.row(Property::Startup).unwrap().cells[column(Class::Vm)]
        .clone()
        .unwrap();
    assert!(!vm.flagged && !vm.text().contains('*'));
}

#[test]
fn containers_without_measurable_overhead_get_no_ratio() {
    let mut record = common::record(5, false);
    for isolator in record
        .isolators
        .iter_mut()
        .filter(|i| i.kind == Kind::Container)
    {
        let summary = isolator.summary.as_mut().unwrap();
        summary.memory_overhead_bytes.as_mut().unwrap().median = -1500.0;
        if let Some(host) = &mut isolator.host_cost {
            host.overhead_bytes = Some(-3000.0);
        }
    }
    for tier in compare(&record).tiers {
        let row = tier.row(Property::MemoryOverhead).cloned().unwrap();
        assert_eq!(row.ratio, None);
        assert!(
            row.verdict.starts_with("containers add nothing measurable"),
            "{}",
            row.verdict
        );
    }
}

#[test]
fn vms_faster_than_containers_is_said_to_contradict_the_textbook() {
    let mut record = common::record(5, false);
    for isolator in record
        .isolators
        .iter_mut()
        .filter(|i| i.kind == Kind::Microvm && i.summary.is_some())
    {
        isolator.summary.as_mut().unwrap().startup_ns.median = 1_000_000.0;
    }
    let comparison = compare(&record);
    for tier in &comparison.tiers {
        let row = tier.row(Property::Startup).cloned().unwrap();
        assert!(row.ratio.unwrap() < 1.0);
        assert!(
            row.verdict.contains("VMs start faster")
                && row.verdict.contains("against the textbook"),
            "{}",
            row.verdict
        );
        // Only the bare guest's win is explained by its having no OS.
        assert_eq!(
            row.verdict.contains("the bare guest has no OS"),
            tier.tier == Tier::Floor,
            "{}",
            row.verdict
        );
    }
}

#[test]
fn working_probes_add_a_runtime_row_relative_to_the_process() {
    let mut record = common::record(5, false);
    record.config.workload = "cpu:1000".parse().unwrap();
    set_work_ns(&mut record, "process", 1_000_000);
    for (name, work_ns) in [
        ("container", 1_020_000),
        ("runc", 1_010_000),
        ("crun", 1_030_000),
        ("docker", 1_050_000),
    ] {
        set_work_ns(&mut record, name, work_ns);
    }
    set_work_ns(&mut record, "microvm", 2_020_000);
    set_work_ns(&mut record, "qemu-microvm", 2_500_000);
    set_work_ns(&mut record, "qemu-tcg", 40_000_000);
    let comparison = compare(&record);
    let row = comparison
        .tier(Tier::Floor)
        .row(Property::Runtime)
        .cloned()
        .expect("runtime row");
    assert!((row.ratio.unwrap() - 2.0).abs() < 1e-9, "{:?}", row.ratio);
    assert_eq!(
        row.cells[column(Class::Container)].as_ref().unwrap().best,
        "1.01× process"
    );
    assert!(
        row.verdict.contains("2.0× slower in a VM"),
        "{}",
        row.verdict
    );
    assert!(
        row.verdict.contains("software KVM"),
        "VM work timed on software KVM: {}",
        row.verdict
    );

    let os = comparison
        .headline()
        .row(Property::Runtime)
        .cloned()
        .expect("runtime row");
    assert!(
        os.verdict.contains("40× slower in a VM") && os.verdict.contains("the VM is emulated"),
        "{}",
        os.verdict
    );

    record.isolators.retain(|i| i.name != "process");
    let row = compare(&record)
        .headline()
        .row(Property::Runtime)
        .cloned()
        .expect("runtime row");
    assert!(
        row.verdict.contains("process baseline reported no work_ns"),
        "{}",
        row.verdict
    );
}

fn memory_row(record: &RunRecord, tier: Tier) -> reports::comparison::Row {
    compare(record)
        .tier(tier)
        .row(Property::MemoryOverhead)
        .cloned()
        .expect("memory row")
}

#[test]
fn the_memory_row_compares_host_costs_where_measured_and_says_so() {
    let record = common::record(10, false);
    let row = memory_row(&record, Tier::Floor);
    assert_eq!(
        row.source.as_deref(),
        Some("host cost: system-wide, batches of 10; not measured for docker")
    );
    assert!(row
        .label()
        .starts_with("memory overhead vs process (host cost"));
    let host = |name: &str| {
        let isolator = record.isolator(name).unwrap();
        isolator.host_cost.as_ref().unwrap().overhead_bytes.unwrap()
    };
    let container = row.cells[column(Class::Container)].as_ref().unwrap();
    let vm = row.cells[column(Class::Vm)].as_ref().unwrap();
    assert_eq!(container.best_isolator.as_deref(), Some("container"));
    assert_eq!(container.value, Some(host("container")));
    assert_eq!(container.isolators, 3, "docker has no host cost: left out");
    assert_eq!(vm.value, Some(host("microvm")));
    assert!((row.ratio.unwrap() - host("microvm") / host("container")).abs() < 1e-9);
    // The terminal's verdict line and comparison.json name the source too.
    let text = reports::terminal::render(&record);
    assert!(
        text.contains("→ memory overhead vs process (host cost: system-wide, batches of 10; not measured for docker): VMs cost"),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&reports::comparison::json::render(&record)).unwrap();
    let rows = json["tiers"][1]["rows"].as_array().unwrap();
    let memory = rows
        .iter()
        .find(|r| r["property"] == "memory_overhead_bytes")
        .unwrap();
    assert_eq!(
        memory["source"],
        "host cost: system-wide, batches of 10; not measured for docker"
    );
    assert_eq!(memory["containers"]["value"], host("container"));
    assert!(rows
        .iter()
        .filter(|r| r["property"] != "memory_overhead_bytes")
        .all(|r| r["source"].is_null()));
}

#[test]
fn without_host_cost_for_a_class_the_memory_row_stays_attributed_and_says_why() {
    let mut record = common::record(10, false);
    for vm in record
        .isolators
        .iter_mut()
        .filter(|i| i.kind == Kind::Microvm)
    {
        vm.host_cost = None;
    }
    let row = memory_row(&record, Tier::Floor);
    assert_eq!(
        row.source.as_deref(),
        Some("attributed: PSS + cgroup kernel; no host cost for VMs")
    );
    let attributed = |name: &str| {
        let summary = record.isolator(name).unwrap().summary.as_ref().unwrap();
        summary.memory_overhead_bytes.as_ref().unwrap().median
    };
    let container = row.cells[column(Class::Container)].as_ref().unwrap();
    assert_eq!(container.value, Some(attributed("container")));
    assert_eq!(container.isolators, 4, "every container, docker included");
    // Nothing measured host cost: attributed, said plainly.
    for isolator in &mut record.isolators {
        isolator.host_cost = None;
    }
    for tier in [Tier::Os, Tier::Floor] {
        let row = memory_row(&record, tier);
        assert_eq!(
            row.source.as_deref(),
            Some("attributed: PSS + cgroup kernel")
        );
    }
}

#[test]
fn a_noisy_host_cost_is_a_memory_caveat_not_a_timing_one() {
    let mut record = common::record(10, false);
    let microvm = record
        .isolators
        .iter_mut()
        .find(|i| i.name == "microvm")
        .unwrap();
    microvm.flags.push(reports::Flag::HostCostNoisy);
    let floor = compare(&record).tier(Tier::Floor).clone();
    let memory = floor.row(Property::MemoryOverhead).unwrap();
    assert!(
        memory
            .verdict
            .contains("host cost flagged host-cost-noisy for microvm"),
        "{}",
        memory.verdict
    );
    let startup = floor.row(Property::Startup).unwrap();
    assert!(
        !startup.verdict.contains("host-cost-noisy"),
        "{}",
        startup.verdict
    );
    // With the attributed figure, the host cost's noise is no caveat of the row.
    for isolator in &mut record.isolators {
        isolator.host_cost = None;
    }
    let memory = memory_row(&record, Tier::Floor);
    assert!(
        !memory.verdict.contains("host-cost-noisy"),
        "{}",
        memory.verdict
    );
}
