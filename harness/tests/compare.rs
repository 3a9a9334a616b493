//! `isobench compare` end to end. In its own test binary so that no other test competes for
//! the CPU while the runs it compares are measured.
use std::path::{Path, PathBuf};

use predicates::prelude::*;

/// Runs per side. Each round runs base, again and slow in a rotated order (a Latin square:
/// B A S, A S B, S B A, …): on this VM a run's position after another run shifts its median
/// by up to 20%, and rotating puts every side in every position equally often.
const ROUNDS: usize = 9;

fn isobench(tmp: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("isobench").unwrap();
    cmd.env("TMPDIR", tmp);
    cmd
}

/// Runs the process baseline and returns the path of its run.json.
fn process_run(tmp: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let out = tmp.join(name);
    isobench(tmp)
        .args([
            "run",
            "-i",
            "process",
            "--runs",
            "30",
            "--warmup",
            "10",
            "--host-batch",
            "0",
            "--out",
        ])
        .arg(&out)
        .args(extra)
        .assert()
        .success();
    out.join("run.json")
}

fn startup_median_ns(run: &Path) -> f64 {
    let record = reports::RunRecord::load(run).unwrap();
    let process = record.isolator("process").unwrap();
    process.startup_median_ns().unwrap()
}

fn joined(paths: &[PathBuf]) -> String {
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    names.join(",")
}

fn startup_line(output: &[u8]) -> String {
    String::from_utf8_lossy(output)
        .lines()
        .find(|l| l.contains("startup_ns"))
        .map(String::from)
        .unwrap()
}

#[test]
fn compare_sees_an_injected_slowdown_and_no_change_between_equal_builds() {
    let tmp = tempfile::tempdir().unwrap();
    let probe = process_run(tmp.path(), "probe", &[]);
    // 20% of the baseline's startup, as a real sleep in the probe before it signals ready.
    let delay_us = ((startup_median_ns(&probe) * 0.2) / 1000.0).ceil() as u64;
    let delay = delay_us.to_string();
    let (mut base, mut again, mut slow) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        for side in 0..3 {
            match (round + side) % 3 {
                0 => base.push(process_run(tmp.path(), &format!("base{round}"), &[])),
                1 => again.push(process_run(tmp.path(), &format!("again{round}"), &[])),
                _ => slow.push(process_run(
                    tmp.path(),
                    &format!("slow{round}"),
                    &["--inject-startup-delay-us", &delay],
                )),
            }
        }
    }

    let same = isobench(tmp.path())
        .arg("compare")
        .arg(joined(&base))
        .arg(joined(&again))
        .args(["--threshold", "10", "--fail-on-regression", "10"])
        .assert()
        .success();
    let output = String::from_utf8_lossy(&same.get_output().stdout).into_owned();
    let line = startup_line(output.as_bytes());
    assert!(
        line.contains("no change"),
        "two builds alike, {ROUNDS} alternated runs each:\n{output}"
    );

    let slower = isobench(tmp.path())
        .arg("compare")
        .arg(joined(&base))
        .arg(joined(&slow))
        .args(["--threshold", "10", "--fail-on-regression", "10"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "regression beyond 10%: process startup_ns",
        ));
    let output = String::from_utf8_lossy(&slower.get_output().stdout).into_owned();
    assert!(
        startup_line(output.as_bytes()).contains("slower"),
        "a 20% injected delay ({delay_us} µs):\n{output}"
    );
    assert!(
        output.contains("the bare-process baseline itself moved"),
        "the moved baseline is named as a caveat:\n{output}"
    );

    // A missing file on one side, among good ones: one line naming it.
    let missing = format!(
        "{},{}",
        again[0].display(),
        tmp.path().join("missing.json").display()
    );
    isobench(tmp.path())
        .arg("compare")
        .arg(&base[0])
        .arg(&missing)
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("missing.json").and(predicate::function(|s: &str| {
                s.trim_end().lines().count() == 1
            })),
        );
}

/// A results file written before the schema was typed (kept in reports/tests/fixtures).
fn old_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../reports/tests/fixtures")
        .join(name)
}

#[test]
fn old_format_files_compare_against_themselves() {
    let tmp = tempfile::tempdir().unwrap();
    let run = old_fixture("old-run.json");
    let same = isobench(tmp.path())
        .arg("compare")
        .arg(&run)
        .arg(&run)
        .args(["--fail-on-regression", "5"])
        .assert()
        .success();
    let output = String::from_utf8_lossy(&same.get_output().stdout).into_owned();
    for isolator in ["process", "container", "microvm", "crun", "qemu-microvm"] {
        assert!(
            output.lines().any(|l| l.starts_with(isolator)
                && l.contains("startup_ns")
                && l.ends_with("no change beyond noise")),
            "{isolator}:\n{output}"
        );
    }
    assert!(output.contains("! one run on a side"), "{output}");

    let density = old_fixture("old-density.json");
    let same = isobench(tmp.path())
        .arg("compare")
        .arg(&density)
        .arg(&density)
        .assert()
        .success();
    let output = String::from_utf8_lossy(&same.get_output().stdout).into_owned();
    assert!(
        output
            .lines()
            .any(|l| l.starts_with("container ×5") && l.contains("no verdict")),
        "{output}"
    );
}
