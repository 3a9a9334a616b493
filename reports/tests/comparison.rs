//! The "VMs vs containers" table: values, ratios and verdicts follow the record's numbers,
//! missing classes say "not measured", and software-KVM VM timings are called out.
mod common;

use reports::comparison::{compare, Class, Property, CLASSES};
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
        sample
            .probe_report
            .insert("work_ns".into(), work_ns.to_string());
    }
}

#[test]
fn fixture_rows_compare_the_best_of_each_class() {
    let record = common::record(10, false);
    let table = compare(&record);
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
    let median = |name: &str| {
        record
            .isolator(name)
            .unwrap()
            .summary
            .as_ref()
            .unwrap()
            .startup_ns
            .median
    };
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
        "firecracker is unavailable and not counted"
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
        kernel.verdict.starts_with("confirmed here"),
        "{}",
        kernel.verdict
    );
}

#[test]
fn a_missing_class_is_not_measured() {
    let mut record = common::record(5, false);
    record.isolators.retain(|i| i.kind != Kind::Microvm);
    for row in compare(&record).rows {
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

#[test]
fn hardware_kvm_timings_carry_no_caveat() {
    let mut record = common::record(5, false);
    for isolator in &mut record.isolators {
        isolator.flags.clear();
    }
    let table = compare(&record);
    assert!(table
        .rows
        .iter()
        .all(|r| !r.verdict.contains("software KVM")));
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
    }
    let row = compare(&record)
        .row(Property::MemoryOverhead)
        .cloned()
        .unwrap();
    assert_eq!(row.ratio, None);
    assert!(
        row.verdict.starts_with("containers add nothing measurable"),
        "{}",
        row.verdict
    );
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
    let row = compare(&record).row(Property::Startup).cloned().unwrap();
    assert!(row.ratio.unwrap() < 1.0);
    assert!(
        row.verdict.contains("VMs start faster") && row.verdict.contains("against the textbook"),
        "{}",
        row.verdict
    );
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
    let row = compare(&record)
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

    record.isolators.retain(|i| i.name != "process");
    let row = compare(&record)
        .row(Property::Runtime)
        .cloned()
        .expect("runtime row");
    assert!(
        row.verdict.contains("process baseline reported no work_ns"),
        "{}",
        row.verdict
    );
}
