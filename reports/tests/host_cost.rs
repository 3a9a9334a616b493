//! The host cost in every renderer of a run: the results table's launch CPU and host mem cost
//! columns (system-wide where measured, marked where only attributed or not an overhead, "—"
//! where absent), their footnotes, the CSV's raw fields, the per-instance split, the Markdown
//! section, and the flag and warning it brings.
mod common;

use reports::host_cost::{self, Origin};
use reports::schema::*;
use reports::{csv, detail, markdown, table, terminal};

/// The results row of `name`, by header.
fn cell(record: &RunRecord, name: &str, header: &str) -> String {
    let column = table::HEADER
        .iter()
        .position(|h| *h == header)
        .expect(header);
    let row = table::rows(record)
        .into_iter()
        .find(|r| r[0].trim_end_matches(table::FLAG_MARKER) == name)
        .expect(name);
    row[column].clone()
}

#[test]
fn the_results_table_shows_launch_cpu_and_host_memory_beside_startup_and_overhead() {
    let record = common::record(10, false);
    let header = table::HEADER;
    let at = |h: &str| header.iter().position(|x| *x == h).unwrap();
    assert_eq!(at("launch CPU"), at("startup p95") + 1);
    assert_eq!(at("host mem cost"), at("mem overhead") + 1);
    // System-wide where the batches measured it.
    assert_eq!(cell(&record, "container", "launch CPU"), "2.60 ms");
    assert_eq!(cell(&record, "container", "host mem cost"), "470 KiB");
    assert_eq!(cell(&record, "qemu-microvm", "host mem cost"), "49.9 MiB");
    // docker: only its own accounting's CPU, marked; no host memory: a dash, not 0.
    assert_eq!(cell(&record, "docker", "launch CPU"), "45.9 msᵃ");
    assert_eq!(cell(&record, "docker", "host mem cost"), "—");
    assert_eq!(cell(&record, "firecracker", "launch CPU"), "—");
    let notes = table::footnotes(&record);
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("ᵃ launch CPU attributed only")),
        "{notes:?}"
    );
    assert!(
        notes.iter().any(|n| n.contains("batches of 10 instances")),
        "{notes:?}"
    );
    assert!(
        !notes.iter().any(|n| n.starts_with(table::TOTAL_MARKER)),
        "the run has a process baseline: {notes:?}"
    );
    let text = terminal::render(&record);
    assert!(text.contains("ᵃ launch CPU attributed only"), "{text}");
}

#[test]
fn without_a_process_baseline_the_host_memory_is_the_whole_growth_and_marked() {
    let mut record = common::record(10, false);
    for isolator in &mut record.isolators {
        if let Some(host) = &mut isolator.host_cost {
            host.overhead_bytes = None;
        }
    }
    assert_eq!(cell(&record, "container", "host mem cost"), "620 KiBᵗ");
    let notes = table::footnotes(&record);
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("ᵗ host mem cost is the whole system-wide growth")),
        "{notes:?}"
    );
}

#[test]
fn nothing_measured_prints_dashes_and_no_footnotes() {
    let mut record = common::record(10, false);
    for isolator in &mut record.isolators {
        isolator.host_cost = None;
        if let Some(summary) = &mut isolator.summary {
            summary.cpu_ns = None;
        }
    }
    for name in ["process", "container", "microvm"] {
        assert_eq!(cell(&record, name, "launch CPU"), "—", "{name}");
        assert_eq!(cell(&record, name, "host mem cost"), "—", "{name}");
    }
    assert!(table::footnotes(&record).is_empty());
}

#[test]
fn the_csv_carries_the_raw_host_fields_with_units() {
    let record = common::record(10, false);
    let bytes = csv::render(&record).expect("csv renders");
    let mut reader = ::csv::Reader::from_reader(bytes.as_slice());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    for name in [
        "attributed_cpu_ns",
        "kernel_estimate_bytes",
        "kernel_not_measured",
        "host_batch",
        "host_batches",
        "host_batches_disturbed",
        "launch_cpu_ns",
        "host_used_per_instance_bytes",
        "host_attributed_per_instance_bytes",
        "host_attributed_kernel_per_instance_bytes",
        "host_mem_available_drop_per_instance_bytes",
        "host_overhead_bytes",
        "host_spread_ratio",
    ] {
        assert!(header.iter().any(|h| h == name), "no column {name}");
    }
    let field = |row: &::csv::StringRecord, name: &str| {
        row[header.iter().position(|h| h == name).unwrap()].to_string()
    };
    let rows: Vec<::csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let first = |name: &str| rows.iter().find(|r| &r[0] == name).unwrap().clone();
    let container = first("container");
    let host = record
        .isolator("container")
        .unwrap()
        .host_cost
        .clone()
        .unwrap();
    assert_eq!(field(&container, "host_batch"), "10");
    assert_eq!(
        field(&container, "host_used_per_instance_bytes"),
        host.per_instance_used_bytes.unwrap().to_string()
    );
    assert_eq!(
        field(&container, "launch_cpu_ns"),
        host.launch_cpu_ns.unwrap().to_string()
    );
    assert_eq!(field(&container, "attributed_cpu_ns"), "1800000");
    let runsc = first("runsc");
    assert_eq!(field(&runsc, "host_batches_disturbed"), "1");
    assert_eq!(field(&runsc, "flags"), "host-cost-noisy");
    // docker has no host cost: empty cells, never 0.
    let docker = first("docker");
    assert_eq!(field(&docker, "launch_cpu_ns"), "");
    assert_eq!(field(&docker, "host_overhead_bytes"), "");
    assert_eq!(field(&docker, "attributed_cpu_ns"), "45000000");
}

#[test]
fn the_split_comes_from_the_undisturbed_batches_and_flags_excess_attribution() {
    let record = common::record(10, false);
    let rows = host_cost::rows(&record);
    let names: Vec<&str> = rows.iter().map(|r| r.isolator.as_str()).collect();
    assert!(!names.contains(&"docker") && !names.contains(&"firecracker"));
    let row = |name: &str| rows.iter().find(|r| r.isolator == name).unwrap();
    let container = row("container");
    assert_eq!(container.user_bytes, Some(160.0 * 1024.0));
    assert_eq!(container.kernel_bytes, Some(180.0 * 1024.0));
    assert_eq!(container.unattributed_bytes(), Some(280.0 * 1024.0));
    assert_eq!(container.over_attributed_bytes(), None);
    // runsc's disturbed batch (inflated 1.4×) is not in its medians.
    let runsc = row("runsc");
    assert!(
        runsc.user_bytes.unwrap() < 48.5 * 1024.0 * 1024.0,
        "{runsc:?}"
    );
    assert_eq!(
        runsc.origin.disturbed_reasons(),
        [common::RUNSC_DISTURBED.to_string()]
    );
    let qemu = row("qemu-microvm");
    assert_eq!(qemu.unattributed_bytes(), Some(0.0));
    let over = qemu.over_attributed_bytes().expect("PSS exceeds used");
    assert!((over - 4.5 * 1024.0 * 1024.0).abs() < 1024.0, "{over}");
    let cells = detail::host_cost_rows(&record);
    let qemu = cells.iter().find(|r| r[0] == "qemu-microvm*").unwrap();
    assert_eq!(qemu.last().unwrap(), "—");
    assert!(
        qemu.contains(&"exceeds used by 4.50 MiB".to_string()),
        "{qemu:?}"
    );
}

#[test]
fn a_density_record_takes_each_isolators_largest_point() {
    let mut record = common::record(10, false);
    record
        .isolators
        .retain(|i| i.name == "container" || i.name == "microvm");
    for isolator in &mut record.isolators {
        isolator.host_cost = None;
        isolator.samples.clear();
    }
    let rows = host_cost::rows(&record);
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0].origin,
        Origin::Density {
            instances: 256,
            disturbed: None
        }
    );
    // microvm's largest point held 41 of the 64 asked for.
    assert_eq!(
        rows[1].origin,
        Origin::Density {
            instances: 41,
            disturbed: None
        }
    );
    let point = &record.density[6].host.as_ref().unwrap();
    assert_eq!(rows[1].used_bytes, point.per_instance_used_bytes());
    assert_eq!(rows[1].cpu_ns, point.per_instance_cpu_ns());
    let text = markdown::render(&record);
    assert!(text.contains("## Host cost per instance"), "{text}");
    assert!(text.contains("| density: 41 held at once |"), "{text}");
}

#[test]
fn markdown_has_the_host_cost_section_only_with_data() {
    let mut record = common::record(10, false);
    let text = markdown::render(&record);
    assert!(text.contains("## Host cost per instance"));
    assert!(
        text.contains("| runsc\\* | batches of 10 (3, 1 disturbed) |"),
        "{text}"
    );
    assert!(
        text.contains(
            "| docker | container | shared | 627 ms | 691 ms | 45.9 msᵃ | 9.21 MiB | — |"
        ),
        "{text}"
    );
    assert!(text.contains("CPU per trial (attributed)"));
    for isolator in &mut record.isolators {
        isolator.host_cost = None;
    }
    for point in &mut record.density {
        point.host = None;
    }
    let text = markdown::render(&record);
    assert!(!text.contains("## Host cost per instance"), "{text}");
}

#[test]
fn the_new_flag_and_warning_are_listed_like_the_others() {
    let mut record = common::record(10, false);
    let legend = table::legend(&record);
    assert!(
        legend
            .iter()
            .any(|l| l.starts_with("* host-cost-noisy (runsc): 1 of its 3 host-cost batches")),
        "{legend:?}"
    );
    let text = markdown::render(&record);
    assert!(text.contains("- ⚠ `budget-reached` (docker):"), "{text}");
    assert!(text.contains("- ⚠ `host-cost-noisy` (runsc):"), "{text}");
    // Without a warning to quote, the legend still says what the flag means.
    record
        .warnings
        .retain(|w| w.code != WarningCode::HostCostNoisy);
    let legend = table::legend(&record);
    assert!(
        legend
            .iter()
            .any(|l| l.contains("host-cost-noisy (runsc): its host-cost batches disagree")),
        "{legend:?}"
    );
}
