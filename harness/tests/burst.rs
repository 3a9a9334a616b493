//! `isobench burst` end to end: 64 containers in flight with a leak check, and a small burst
//! of process and container whose burst.json `report` and `compare` read.
mod common;
use common::leaks::{assert_nothing_left_of, watch_for_leaks};

use std::path::Path;
use std::process::{Command, Stdio};

use assert_cmd::cargo::CommandCargoExt;
use isolators::testing::{check_root, run_if};
use reports::{BurstLoad, RunRecord};

/// Runs `isobench burst ARGS --out DIR` with TMPDIR in `tmp`; returns its exit code, record
/// and pid (its instances' cgroups are named after it).
fn burst(tmp: &Path, args: &[&str]) -> (Option<i32>, RunRecord, u32) {
    let out = tmp.join("burst");
    let child = Command::cargo_bin("isobench")
        .unwrap()
        .env("TMPDIR", tmp)
        .arg("burst")
        .args(args)
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let record = RunRecord::load(&out.join("burst.json"))
        .unwrap_or_else(|e| panic!("{e}; stderr: {stderr}"));
    (output.status.code(), record, pid)
}

#[test]
fn sixty_four_containers_in_flight_leave_nothing_behind() {
    let test = "sixty_four_containers_in_flight_leave_nothing_behind";
    if !run_if(test, "root", check_root()) {
        return;
    }
    let (_turn, mountinfo_before) = watch_for_leaks();
    let tmp = tempfile::tempdir().unwrap();
    let (code, record, pid) = burst(
        tmp.path(),
        &[
            "-i",
            "container",
            "--concurrency",
            "64",
            "--rate",
            "none",
            "--launches",
            "192",
        ],
    );
    assert_eq!(code, Some(0), "{:?}", record.burst);
    assert!(record.complete);
    let [point] = record.burst.as_slice() else {
        panic!("one point: {:?}", record.burst);
    };
    assert_eq!(point.load, BurstLoad::Closed { concurrency: 64 });
    assert_eq!(point.failures, 0, "{:?}", point.first_error);
    assert_eq!(point.samples.len(), 192);
    assert!(point.leftovers.is_empty(), "{:?}", point.leftovers);
    let latency = point.latency.as_ref().unwrap();
    assert_eq!(latency.n, 192);
    let p50 = latency.at(0.5).unwrap();
    assert!(p50.ci_low_ns.unwrap() <= p50.value_ns && p50.value_ns <= p50.ci_high_ns.unwrap());
    assert!(
        latency.at(0.99).unwrap().ci_high_ns.is_none(),
        "192 cannot bound p99"
    );
    // 64 in flight at once on any host: the first 64 launches overlap, so latencies exceed a
    // lone launch's, and every sample has a teardown.
    assert!(point
        .samples
        .iter()
        .all(|s| s.teardown_ns > 0 && s.latency_ns > 0));
    assert!(point.settle.is_some());
    assert_nothing_left_of(&mountinfo_before, tmp.path(), pid);
}

#[test]
fn failing_launches_stop_the_point_and_are_cleaned_up() {
    let test = "failing_launches_stop_the_point_and_are_cleaned_up";
    if !run_if(test, "root", check_root()) {
        return;
    }
    let (_turn, mountinfo_before) = watch_for_leaks();
    let tmp = tempfile::tempdir().unwrap();
    // No container is ready within 50 µs: every launch times out and its instance is killed.
    let (code, record, pid) = burst(
        tmp.path(),
        &[
            "-i",
            "container",
            "--concurrency",
            "4",
            "--rate",
            "none",
            "--launches",
            "200",
            "--timeout",
            "0.00005",
        ],
    );
    assert_eq!(code, Some(1), "failed launches fail the command");
    let [point] = record.burst.as_slice() else {
        panic!("one point: {:?}", record.burst);
    };
    assert!(point.samples.is_empty());
    // Counted before the failed instance is cleaned up, so at most the 3 other workers'
    // launches in flight get past the tenth failure.
    assert!((10..=13).contains(&point.failures), "{}", point.failures);
    assert_eq!(point.stopped_because.as_deref(), Some("10 launches failed"));
    assert!(point.first_error.as_deref().unwrap().contains("ready"));
    assert!(point.leftovers.is_empty(), "{:?}", point.leftovers);
    assert_nothing_left_of(&mountinfo_before, tmp.path(), pid);
}

#[test]
fn a_small_burst_is_reported_and_compared() {
    let test = "a_small_burst_is_reported_and_compared";
    if !run_if(test, "root", check_root()) {
        return;
    }
    // Takes its turn: another test of this binary counts every child process as a leak.
    let _turn = watch_for_leaks();
    let tmp = tempfile::tempdir().unwrap();
    let args = [
        "-i",
        "process,container",
        "--concurrency",
        "1,4",
        "--rate",
        "200",
        "--arrivals",
        "uniform",
        "--max-in-flight",
        "8",
        "--launches",
        "40",
    ];
    let (code, record, _) = burst(tmp.path(), &args);
    assert_eq!(code, Some(0));
    let loads: Vec<(String, String)> = record
        .burst
        .iter()
        .map(|p| (p.isolator.clone(), p.load.label()))
        .collect();
    let expected: Vec<(String, String)> = ["process", "container"]
        .iter()
        .flat_map(|i| {
            ["1 in flight", "4 in flight", "200/s uniform"].map(|l| (i.to_string(), l.to_string()))
        })
        .collect();
    assert_eq!(loads, expected);
    for point in &record.burst {
        assert_eq!(point.samples.len(), 40, "{point:?}");
        assert!(point.achieved_per_second > 0.0);
        if let BurstLoad::Open { .. } = point.load {
            // Uniform at 200/s: launches due every 5 ms, in order.
            let due: Vec<u64> = point.samples.iter().map(|s| s.due_ns).collect();
            assert!(due.windows(2).all(|w| w[1] - w[0] == 5_000_000), "{due:?}");
        }
    }
    let dir = tmp.path().join("burst");
    for file in ["burst.md", "index.html", "burst.png"] {
        assert!(dir.join(file).is_file(), "{file} written");
    }
    let report = Command::cargo_bin("isobench")
        .unwrap()
        .arg("report")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(report.status.success());
    let text = String::from_utf8(report.stdout).unwrap();
    assert!(
        text.contains("p99 [95% CI]") && text.contains("container      4 in flight"),
        "{text}"
    );
    let compare = Command::cargo_bin("isobench")
        .unwrap()
        .arg("compare")
        .arg(dir.join("burst.json"))
        .arg(&dir)
        .output()
        .unwrap();
    let text = String::from_utf8(compare.stdout).unwrap();
    assert!(compare.status.success(), "{text}");
    for row in [
        "container 4 in flight  latency_p99_ns",
        "process 200/s uniform  latency_p50_ns",
    ] {
        assert!(text.contains(row), "{row:?} in {text}");
    }
}

#[test]
fn find_rate_halves_until_one_per_second_when_no_rate_can_be_shown() {
    let _turn = watch_for_leaks();
    let tmp = tempfile::tempdir().unwrap();
    // 20 launches a point are too few to show any rate sustained (it takes 100): the search
    // starts at half the rate at 1 in flight and halves down to 1/s, each rate tried once.
    let (code, record, _) = burst(
        tmp.path(),
        &[
            "-i",
            "process",
            "--concurrency",
            "none",
            "--rate",
            "none",
            "--find-rate",
            "--launches",
            "20",
            "--budget",
            "1",
        ],
    );
    assert_eq!(code, Some(0));
    let (first, searched) = record.burst.split_first().unwrap();
    assert_eq!(
        first.load,
        BurstLoad::Closed { concurrency: 1 },
        "measured first"
    );
    let rates: Vec<f64> = searched
        .iter()
        .map(|p| match p.load {
            BurstLoad::Open {
                rate_per_second, ..
            } => rate_per_second,
            BurstLoad::Closed { .. } => panic!("only open-loop points follow: {p:?}"),
        })
        .collect();
    assert!(rates.len() >= 2, "{rates:?}");
    assert!(rates.windows(2).all(|w| w[1] < w[0]), "halving: {rates:?}");
    let last = *rates.last().unwrap();
    assert!((1.0..2.0).contains(&last), "down to 1/s: {rates:?}");
    let text = reports::burst::tail_lines(&record.burst).join("\n");
    assert!(
        text.contains("no rate tried keeps its p99 within 2× its p50"),
        "{text}"
    );
}

#[test]
fn bad_loads_are_refused_in_one_line() {
    let _turn = watch_for_leaks();
    for (args, says) in [
        (
            ["--concurrency", "0"],
            "--concurrency \"0\": each must be a whole number",
        ),
        (
            ["--rate", "0"],
            "--rate \"0\": each must be launches per second",
        ),
        (["--arrivals", "bursty"], "unknown arrivals \"bursty\""),
    ] {
        let output = Command::cargo_bin("isobench")
            .unwrap()
            .args(["burst", "-i", "process"])
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(!output.status.success());
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}
