//! The command renderers moved out of the harness — `isobench list`, the density table and
//! `isobench compare` — print what the harness printed before.
mod common;

use reports::compare::{self, Comparison, Verdict};
use reports::{density, list};

#[test]
fn list_shows_class_kernel_and_status() {
    let record = common::record(2, false);
    let text = list::render(&record.isolators);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "isolator           class      kernel     status");
    assert_eq!(
        lines[1],
        "process            process    shared     available — process-fixture"
    );
    assert!(
        lines.contains(&"firecracker        microvm    own        unavailable: firecracker not found on PATH — install it from the GitHub release and put it on PATH"),
        "{text}"
    );
    assert_eq!(lines.len(), record.isolators.len() + 1);
}

#[test]
fn density_rows_line_up_under_the_header() {
    let record = common::record(2, false);
    assert_eq!(
        density::header(),
        "isolator       instances  reached    all ready   launch/s   per instance  MemAvail drop/i    host used/i host attrib/i  CPU/launch    teardown  notes\n"
    );
    assert_eq!(
        density::row(&record.density[1]),
        "container             16       16       30.0ms      533.3        0.30 MiB         0.34 MiB      0.54 MiB       0.29 MiB     3.00 ms      32.0ms  \n"
    );
    // A point the host disturbed: `!` after its host figure, and why in the notes.
    let disturbed = density::row(&record.density[5]);
    assert!(disturbed.contains("23.40 MiB!"), "{disturbed}");
    assert!(
        disturbed.contains(&format!("! host disturbed: {}", common::MICROVM_DISTURBED)),
        "{disturbed}"
    );
    assert!(!density::row(&record.density[6]).contains('!'));
    // A point without host figures (an older record): dashes, not zeros, in the same columns.
    let mut old = record.density[1].clone();
    old.host = None;
    let old = density::row(&old);
    assert_eq!(
        old.chars().count(),
        density::row(&record.density[1]).chars().count(),
        "{old}"
    );
    assert!(
        old.contains("0.34 MiB             —              —           —      32.0ms"),
        "{old}"
    );
    let short = density::row(record.density.last().unwrap());
    assert!(
        short.contains("stopped: KVM_CREATE_VM failed: Cannot allocate memory"),
        "{short}"
    );
    let failed = reports::Status::PrepareFailed {
        error: "io: no disk".into(),
    };
    assert_eq!(
        density::not_measured("microvm", &failed).as_deref(),
        Some("microvm        prepare failed: io: no disk\n")
    );
    let unavailable = reports::Status::Unavailable {
        reason: "no /dev/kvm".into(),
    };
    assert_eq!(
        density::not_measured("microvm", &unavailable).as_deref(),
        Some("microvm        unavailable: no /dev/kvm\n")
    );
    assert_eq!(
        density::not_measured("process", &reports::Status::Available),
        None
    );
}

fn comparison(metric: &'static str, change: f64, verdict: Verdict) -> Comparison {
    Comparison {
        isolator: "container".into(),
        metric,
        base_runs: 1,
        new_runs: 1,
        base_median: 1000.0,
        new_median: 1000.0 * (1.0 + change),
        change,
        change_ci_low: change - 0.02,
        change_ci_high: change + 0.02,
        verdict,
    }
}

#[test]
fn compare_prints_caveats_then_one_row_per_metric() {
    let text = compare::render(
        &["one run on a side".to_string()],
        &[
            comparison("startup_ns", 0.2, Verdict::Slower),
            comparison("footprint_bytes", -0.1, Verdict::Faster),
            comparison("teardown_ns", 0.01, Verdict::NoChange),
            comparison("all_ready_ns", 0.3, Verdict::NoInterval { runs_needed: 5 }),
        ],
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "! one run on a side");
    assert!(
        lines[1].starts_with("isolator               metric"),
        "{text}"
    );
    assert_eq!(
        lines[2],
        "container              startup_ns           1:1           1000           1200    +20.0%     +18.0% …   +22.0%  slower"
    );
    assert!(lines[3].ends_with("  smaller"), "{text}");
    assert!(lines[4].ends_with("  no change beyond noise"), "{text}");
    assert!(
        lines[5].ends_with(
            "—  no verdict: a density point is one value per run; pass 5 or more runs per side"
        ),
        "{text}"
    );
}
