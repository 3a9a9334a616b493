//! The user's workload in a run's config: it round-trips through run.json, a record without
//! it (every run before it existed) loads with None and writes back without it, and the
//! terminal, Markdown and HTML headers name the command, its rootfs and its readiness check.
mod common;

use reports::{RunRecord, UserWorkloadRecord};

fn user() -> UserWorkloadRecord {
    UserWorkloadRecord {
        rootfs: "/var/cache/isobench/debian-rootfs".into(),
        rootfs_kind: "directory".into(),
        tree_digest: None,
        argv: vec![
            "python3".into(),
            "-m".into(),
            "http.server".into(),
            "8080".into(),
        ],
        env_keys: vec!["LANG".into()],
        workdir: "/".into(),
        ready: "tcp:8080".into(),
        ready_timeout_ms: 30_000,
        stop_grace_ms: 2_000,
    }
}

#[test]
fn round_trips_and_old_records_load_without_it() {
    let mut record = common::record(3, false);
    let old = String::from_utf8(reports::json::render(&record)).unwrap();
    assert!(!old.contains("user_workload"), "absent when None");
    let loaded = RunRecord::from_json("old.json", &old).unwrap();
    assert_eq!(loaded.config.user_workload, None);
    record.config.user_workload = Some(user());
    let text = String::from_utf8(reports::json::render(&record)).unwrap();
    let loaded = RunRecord::from_json("run.json", &text).unwrap();
    assert_eq!(loaded.config.user_workload, Some(user()));
}

#[test]
fn headers_name_the_command_its_rootfs_and_its_check() {
    let mut record = common::record(3, false);
    record.config.user_workload = Some(user());
    let summary =
        "python3 -m http.server 8080 in /var/cache/isobench/debian-rootfs (directory), ready tcp:8080";
    let terminal = reports::terminal::render_with(
        &record,
        reports::terminal::Options {
            width: Some(400),
            color: false,
        },
    );
    assert!(terminal.contains(summary), "{terminal}");
    let markdown = reports::markdown::render(&record);
    assert!(markdown.contains(summary), "{markdown}");
    let html = reports::html::render(&record, &[], &[]);
    assert!(html.contains("your workload"), "html");
    assert!(html.contains("tcp:8080 within 30000 ms; stop grace 2000 ms; environment LANG"));
}

/// A user workload in a rootfs has no process baseline: the memory column shows each
/// instance's whole footprint, marked, with a footnote saying so.
#[test]
fn without_a_baseline_the_memory_column_is_the_whole_footprint_marked() {
    let mut record = common::record(3, false);
    record.config.user_workload = Some(user());
    for isolator in &mut record.isolators {
        if let Some(summary) = isolator.summary.as_mut() {
            summary.memory_overhead_bytes = None;
        }
    }
    let with_footprint = record
        .isolators
        .iter()
        .find(|i| i.summary.as_ref().is_some_and(|s| s.footprint_bytes.n > 0))
        .expect("the fixture has measured isolators");
    let (bytes, total) = reports::table::memory_bytes(with_footprint).unwrap();
    assert!(total);
    assert_eq!(
        bytes,
        with_footprint
            .summary
            .as_ref()
            .unwrap()
            .footprint_bytes
            .median
    );
    let terminal = reports::terminal::render_with(
        &record,
        reports::terminal::Options {
            width: Some(400),
            color: false,
        },
    );
    assert!(
        terminal.contains("mem overhead is the instance's whole footprint"),
        "{terminal}"
    );
}
