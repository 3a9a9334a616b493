//! Hostile input to the `isobench` binary (issue 13, items 5, 7, 9 and 10): thresholds that are
//! not numbers, files that are not files, options that would be silently ignored, and the exit
//! status of a SIGTERM. Each is one clear line and a failure, or the right output.
mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use predicates::prelude::*;

fn isobench(tmp: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("isobench").unwrap();
    cmd.env("TMPDIR", tmp);
    cmd.timeout(Duration::from_secs(60));
    cmd
}

/// A results file kept in reports/tests/fixtures.
fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../reports/tests/fixtures")
        .join(name)
}

/// Exactly one line on stderr, containing `needle`.
fn one_line_error(needle: &'static str) -> impl Predicate<str> {
    predicate::str::contains(needle).and(predicate::function(|s: &str| {
        s.trim_end().lines().count() == 1
    }))
}

/// clap's error for a bad value: its first line names the option and says what is wrong.
fn bad_value(option: &'static str, needle: &'static str) -> impl Predicate<str> {
    predicate::function(move |s: &str| {
        let first = s.lines().next().unwrap_or_default();
        first.contains(option) && first.contains(needle)
    })
}

#[test]
fn compare_refuses_thresholds_that_are_not_finite_and_non_negative() {
    let tmp = tempfile::tempdir().unwrap();
    let run = fixture("old-run.json");
    for option in ["--threshold", "--fail-on-regression"] {
        for value in ["nan", "NaN", "inf", "-inf", "-1", "-0.5"] {
            isobench(tmp.path())
                .arg("compare")
                .arg(&run)
                .arg(&run)
                .arg(format!("{option}={value}"))
                .assert()
                .failure()
                .stderr(bad_value(option, "a finite percentage, 0 or more"));
        }
    }
    // The limits of the accepted range still work.
    isobench(tmp.path())
        .arg("compare")
        .arg(&run)
        .arg(&run)
        .args(["--threshold", "0", "--fail-on-regression", "0"])
        .assert()
        .success();
}

#[test]
fn compare_counts_a_file_listed_twice_once() {
    let tmp = tempfile::tempdir().unwrap();
    let run = fixture("old-run.json");
    // The same file twice on the base side, once through another spelling of its path.
    let again = fixture("../fixtures/old-run.json");
    let both = format!("{},{}", run.display(), again.display());
    let output = isobench(tmp.path())
        .arg("compare")
        .arg(&both)
        .arg(&run)
        .assert()
        .success()
        .stderr(
            predicate::str::contains("listed twice").and(predicate::str::contains("old-run.json")),
        )
        .get_output()
        .stdout
        .clone();
    let output = String::from_utf8_lossy(&output);
    assert!(
        output.contains("! one run on a side"),
        "pooled once, so one run per side:\n{output}"
    );
}

#[test]
fn report_refuses_what_is_not_a_regular_file() {
    let tmp = tempfile::tempdir().unwrap();
    let started = Instant::now();
    isobench(tmp.path())
        .args(["report", "/dev/zero"])
        .assert()
        .failure()
        .stderr(one_line_error("/dev/zero: not a regular file"));
    let fifo = tmp.path().join("fifo.json");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    isobench(tmp.path())
        .arg("report")
        .arg(&fifo)
        .assert()
        .failure()
        .stderr(one_line_error("fifo.json: not a regular file"));
    // compare shares the loader.
    isobench(tmp.path())
        .arg("compare")
        .arg(&fifo)
        .arg(fixture("old-run.json"))
        .assert()
        .failure()
        .stderr(one_line_error("fifo.json: not a regular file"));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "refused at once, not after reading: {:?}",
        started.elapsed()
    );
}

#[test]
fn report_refuses_a_file_beyond_the_size_cap() {
    let tmp = tempfile::tempdir().unwrap();
    let huge = tmp.path().join("huge.json");
    // Sparse: 2 GiB apparent, nothing allocated.
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    isobench(tmp.path())
        .arg("report")
        .arg(&huge)
        .assert()
        .failure()
        .stderr(one_line_error("larger than 1 GiB"));
}

#[test]
fn report_names_a_schema_version_of_the_wrong_type() {
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixture("old-run.json")).unwrap();
    let string_version = text.replacen("\"schema_version\": 1", "\"schema_version\": \"1\"", 1);
    assert_ne!(text, string_version, "the fixture has the field");
    let path = tmp.path().join("run.json");
    std::fs::write(&path, string_version).unwrap();
    isobench(tmp.path())
        .arg("report")
        .arg(&path)
        .assert()
        .failure()
        .stderr(one_line_error(
            "schema_version is a string (\"1\"), not a whole number",
        ));
}

#[test]
fn report_of_a_directory_without_results_names_both_files() {
    let tmp = tempfile::tempdir().unwrap();
    isobench(tmp.path())
        .arg("report")
        .arg(tmp.path())
        .assert()
        .failure()
        .stderr(one_line_error(
            "holds none of run.json, density.json and burst.json",
        ));
}

#[test]
fn report_shows_density_points_on_the_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let output = isobench(tmp.path())
        .arg("report")
        .arg(fixture("old-density.json"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let output = String::from_utf8_lossy(&output);
    let record = reports::RunRecord::load(&fixture("old-density.json")).unwrap();
    assert!(!record.density.is_empty());
    for point in &record.density {
        let row = [
            point.isolator.clone(),
            point.requested.to_string(),
            point.reached.to_string(),
        ];
        assert!(
            output.lines().any(|l| l
                .split_whitespace()
                .take(3)
                .eq(row.iter().map(String::as_str))),
            "a row for {row:?}:\n{output}"
        );
    }
    assert!(output.contains("launches/s"), "{output}");
    assert!(
        !output.contains("startup median"),
        "no empty run table for a density-only record:\n{output}"
    );
}

#[test]
fn an_unknown_engine_name_is_refused_with_the_known_ones() {
    let tmp = tempfile::tempdir().unwrap();
    isobench(tmp.path())
        .args(["list", "--engine", "kubelet=/bin/true"])
        .assert()
        .failure()
        .stderr(bad_value("--engine", "unknown engine \"kubelet\"").and(
            predicate::str::contains("runc").and(predicate::str::contains("firecracker-linux")),
        ));
    // A known one is accepted.
    isobench(tmp.path())
        .args(["list", "--engine", "runc=/bin/true"])
        .assert()
        .success();
}

#[test]
fn a_kernel_no_selected_isolator_boots_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    for command in ["run", "density"] {
        isobench(tmp.path())
            .args([
                command,
                "-i",
                "process,microvm",
                "--kernel",
                "/boot/nothing",
            ])
            .arg("--out")
            .arg(tmp.path().join(command))
            .assert()
            .failure()
            .stderr(one_line_error("no selected isolator boots a Linux kernel"));
        assert!(
            !tmp.path().join(command).exists(),
            "refused before any output"
        );
    }
}

#[test]
fn sigterm_exits_143_after_writing_results() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_isobench"))
        .env("TMPDIR", tmp.path())
        .args([
            "run",
            "-i",
            "process",
            "--runs",
            "1000000",
            "--warmup",
            "0",
            "--host-batch",
            "0",
            "--out",
        ])
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let json = out.join("run.json");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !json.exists() {
        assert!(Instant::now() < deadline, "run.json not written in 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let code = child.wait().unwrap().code();
    assert_eq!(code, Some(143), "128 + SIGTERM");
    let record = reports::RunRecord::load(&json).unwrap();
    assert!(!record.complete, "marked incomplete");
    common::assert_no_scratch_left(tmp.path());
}

#[test]
fn probe_stderr_reaches_the_terminal_labelled() {
    let tmp = tempfile::tempdir().unwrap();
    // More memory than its address-space limit allows (the host has it, so the run's own
    // check lets it through): the probe says so on stderr and never becomes ready.
    let mut limited = assert_cmd::Command::new("prlimit");
    limited
        .env("TMPDIR", tmp.path())
        .timeout(Duration::from_secs(60))
        .arg(format!("--as={}", 3u64 << 30))
        .arg("--")
        .arg(assert_cmd::cargo::cargo_bin("isobench"));
    let output = limited
        .args([
            "run",
            "-i",
            "process",
            "--workload",
            "touch:4096",
            "--runs",
            "1",
            "--warmup",
            "0",
            "--host-batch",
            "0",
            "--out",
        ])
        .arg(tmp.path().join("out"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr
            .lines()
            .any(|l| l
                .starts_with("probe (process): isobench-probe: touch workload: cannot allocate")),
        "{stderr}"
    );
    for line in stderr.lines() {
        assert!(
            line.starts_with("probe (process): ")
                || line.starts_with("results: ")
                || line.starts_with("isobench: "),
            "an unlabelled line: {line:?}\n{stderr}"
        );
    }
    common::assert_no_scratch_left(tmp.path());
}
