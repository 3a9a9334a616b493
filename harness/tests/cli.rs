//! The `isobench` command line, run as a real binary: bad input, exports, Ctrl-C.
mod common;
use common::assert_no_scratch_left;
use std::path::Path;

use predicates::prelude::*;

fn isobench(tmp: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("isobench").unwrap();
    cmd.env("TMPDIR", tmp);
    cmd
}

/// Exactly one line on stderr, containing `needle`.
fn one_line_error(needle: &'static str) -> impl Predicate<str> {
    predicate::str::contains(needle).and(predicate::function(|s: &str| {
        s.trim_end().lines().count() == 1
    }))
}

#[test]
fn unknown_isolator_is_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    isobench(tmp.path())
        .args(["run", "-i", "process,kubernetes", "--runs", "1", "--out"])
        .arg(tmp.path().join("out"))
        .assert()
        .failure()
        .stderr(one_line_error("unknown isolator \"kubernetes\""));
}

#[test]
fn zero_runs_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    isobench(tmp.path())
        .args(["run", "--runs", "0"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("invalid value '0' for '--runs"));
}

#[test]
fn unknown_workload_is_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    isobench(tmp.path())
        .args(["run", "-i", "process", "--workload", "dance", "--out"])
        .arg(tmp.path().join("out"))
        .assert()
        .failure()
        .stderr(one_line_error("unknown workload \"dance\""));
}

#[test]
fn unwritable_out_is_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    isobench(tmp.path())
        .args([
            "run",
            "-i",
            "process",
            "--runs",
            "1",
            "--out",
            "/proc/isobench-results",
        ])
        .assert()
        .failure()
        .stderr(one_line_error("--out /proc/isobench-results"));
}

#[test]
fn report_rejects_malformed_and_wrong_version_json() {
    let tmp = tempfile::tempdir().unwrap();
    let malformed = tmp.path().join("malformed.json");
    std::fs::write(&malformed, "{ not json").unwrap();
    isobench(tmp.path())
        .arg("report")
        .arg(&malformed)
        .assert()
        .failure()
        .stderr(one_line_error("not an isobench results file"));
    let old = tmp.path().join("old.json");
    std::fs::write(&old, r#"{"schema_version": 0, "isolators": []}"#).unwrap();
    isobench(tmp.path())
        .arg("report")
        .arg(&old)
        .assert()
        .failure()
        .stderr(one_line_error("schema version 0"));
    let missing = tmp.path().join("missing.json");
    isobench(tmp.path())
        .arg("report")
        .arg(&missing)
        .assert()
        .failure()
        .stderr(
            one_line_error("missing.json").and(predicate::function(|s: &str| {
                s.matches("No such file or directory").count() == 1
            })),
        );
}

#[test]
fn run_writes_raw_samples_and_report_rerenders_them() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let csv = tmp.path().join("samples.csv");
    let md = tmp.path().join("report.md");
    isobench(tmp.path())
        .args([
            "run",
            "-i",
            "process",
            "--runs",
            "5",
            "--warmup",
            "1",
            "--host-batch",
            "8",
            "--host-repeats",
            "2",
            "--out",
        ])
        .arg(&out)
        .arg("--export-csv")
        .arg(&csv)
        .arg("--export-markdown")
        .arg(&md)
        .assert()
        .success()
        .stdout(predicate::str::contains("process"));
    let record = reports::RunRecord::load(&out.join("run.json")).unwrap();
    assert!(record.complete);
    let process = record.isolator("process").unwrap();
    assert_eq!(process.samples.len(), 5);
    assert!(process
        .samples
        .iter()
        .all(|s| s.startup_ns > 0 && s.memory.usage.pss_bytes > 0 && s.teardown_ns > 0));
    assert!(process.disk.as_ref().unwrap().runtime_apparent_bytes > 0);
    let host = process.host_cost.as_ref().expect("host cost");
    assert_eq!((host.batch, host.samples.len()), (8, 2), "{host:?}");
    assert!(
        host.samples
            .iter()
            .all(|s| s.instances == 8 && s.attributed_user_bytes > 0 && s.wall_ns > 0),
        "{host:?}"
    );
    let csv_text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(
        csv_text.lines().count(),
        1 + 5,
        "header plus one row per sample:\n{csv_text}"
    );
    assert!(std::fs::read_to_string(&md).unwrap().contains("process"));
    for file in ["run.json", "comparison.json", "run.csv", "run.md"] {
        assert!(
            out.join(file).is_file(),
            "{file} missing from the run directory"
        );
    }
    // The comparison in its tiers, beside the raw record: no VM ran, and each tier says so.
    let comparison: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("comparison.json")).unwrap()).unwrap();
    assert_eq!(comparison["headline"], "os");
    assert_eq!(
        comparison["tiers"][0]["missing"],
        "no Linux-guest VM measured: none in this run"
    );
    assert!(std::fs::read_to_string(out.join("index.html"))
        .unwrap()
        .contains("href=\"comparison.json\""));
    for results in [out.join("run.json"), out.clone()] {
        isobench(tmp.path())
            .arg("report")
            .arg(results)
            .assert()
            .success()
            .stdout(predicate::str::contains("process"));
    }
    assert_no_scratch_left(tmp.path());
}

#[test]
fn list_shows_every_isolator_with_status() {
    let tmp = tempfile::tempdir().unwrap();
    isobench(tmp.path())
        .arg("list")
        .assert()
        .success()
        .stdout(predicate::str::contains("process").and(predicate::str::contains("available")));
}

#[test]
fn density_holds_instances_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("density");
    isobench(tmp.path())
        .args([
            "density",
            "-i",
            "process",
            "--instances",
            "1,20",
            "--parallel",
            "2",
            "--out",
        ])
        .arg(&out)
        .assert()
        .success();
    let record = reports::RunRecord::load(&out.join("density.json")).unwrap();
    assert_eq!(record.density.len(), 2);
    for point in &record.density {
        assert_eq!(point.reached, point.requested, "{point:?}");
        assert!(point.launches_per_second > 0.0 && point.per_instance_footprint_bytes > 0);
        assert!(point.leftovers.is_empty(), "{:?}", point.leftovers);
    }
    assert_no_scratch_left(tmp.path());
}

#[test]
fn a_working_probe_gives_runtime_ratios_for_container_and_microvm() {
    let test = "a_working_probe_gives_runtime_ratios_for_container_and_microvm";
    let host = isolators::Host::detect();
    if !isolators::testing::run_if(test, "root", isolators::testing::check_root())
        || !isolators::testing::run_if(test, "kvm", isolators::testing::check_kvm_and_vmm())
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    // cpu:1 is one million xorshift rounds: ~2 ms natively, ~8 s in software KVM's emulator.
    isobench(tmp.path())
        .args([
            "run",
            "-i",
            "process,container,microvm",
            "--workload",
            "cpu:1",
            "--runs",
            "2",
            "--warmup",
            "0",
            "--out",
        ])
        .arg(&out)
        .assert()
        .success();
    let record = reports::RunRecord::load(&out.join("run.json")).unwrap();
    for name in ["process", "container", "microvm"] {
        let isolator = record.isolator(name).unwrap();
        assert_eq!(isolator.samples.len(), 2, "{name}: {:?}", isolator.failures);
        assert!(
            isolator
                .samples
                .iter()
                .all(|s| s.probe_report.get("work_ns").is_some_and(|w| w != "0")),
            "{name}: every sample reports its work"
        );
    }
    let markdown = std::fs::read_to_string(out.join("run.md")).unwrap();
    let row = markdown
        .lines()
        .find(|l| l.contains("runtime vs bare process"))
        .unwrap_or_else(|| panic!("no runtime row in:\n{markdown}"));
    // Either may carry a `*` flag (say, noisy with 2 runs while other tests load the host).
    assert!(row.contains("process (container"), "{row}");
    assert!(row.contains("process (microvm"), "{row}");
    if host.kvm.is_software() {
        assert!(
            row.contains("microvm\\*") && row.contains("software KVM"),
            "flagged on software KVM: {row}"
        );
    }
    assert_no_scratch_left(tmp.path());
}

#[test]
fn an_isolator_that_cannot_prepare_fails_the_command_but_not_the_others() {
    let test = "an_isolator_that_cannot_prepare_fails_the_command_but_not_the_others";
    if !isolators::testing::run_if(test, "kvm", isolators::testing::check_kvm_and_vmm()) {
        return;
    }
    // The bare microVM guest has no disk: it refuses `io` in prepare, on any KVM.
    let tmp = tempfile::tempdir().unwrap();
    for (command, sizes, file) in [
        ("run", ["--runs", "2"], "run.json"),
        ("density", ["--instances", "2"], "density.json"),
    ] {
        let out = tmp.path().join(command);
        isobench(tmp.path())
            .args([command, "-i", "process,microvm", "--workload", "io:4"])
            .args(sizes)
            .arg("--out")
            .arg(&out)
            .assert()
            .code(1)
            .stderr(predicate::str::contains(
                "not measured, failed to prepare: microvm",
            ));
        let record = reports::RunRecord::load(&out.join(file)).unwrap();
        let microvm = record.isolator("microvm").unwrap();
        assert!(
            matches!(&microvm.status, reports::Status::PrepareFailed { error } if error.contains("io")),
            "{command}: {:?}",
            microvm.status
        );
        let process_measured = match command {
            "run" => record.isolator("process").unwrap().samples.len() == 2,
            _ => record.density.iter().any(|p| p.isolator == "process"),
        };
        assert!(
            process_measured,
            "{command}: the process was still measured"
        );
    }
    assert_no_scratch_left(tmp.path());
}

#[test]
fn compare_has_a_work_row_for_a_workload_and_names_a_workload_mismatch() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |name: &str, workload: &str| {
        let out = tmp.path().join(name);
        isobench(tmp.path())
            .args(["run", "-i", "process", "--runs", "10", "--warmup", "1"])
            .args(["--workload", workload, "--out"])
            .arg(&out)
            .assert()
            .success();
        out
    };
    let (cpu_a, cpu_b, noop) = (run("a", "cpu:1"), run("b", "cpu:1"), run("n", "noop"));
    let compare = |base: &Path, new: &Path| {
        let output = isobench(tmp.path())
            .arg("compare")
            .arg(base)
            .arg(new)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        String::from_utf8(output).unwrap()
    };
    let same_workload = compare(&cpu_a, &cpu_b);
    assert!(
        same_workload
            .lines()
            .any(|l| l.split_whitespace().take(2).eq(["process", "work_ns"])),
        "cpu:1 on both sides compares the probe's work:\n{same_workload}"
    );
    assert!(
        !same_workload.contains("different workloads"),
        "{same_workload}"
    );
    let mismatch = compare(&noop, &cpu_a);
    assert!(
        mismatch.contains("different workloads (base: noop; new: cpu:1)"),
        "{mismatch}"
    );
    assert!(
        !mismatch.contains("work_ns"),
        "noop times no work, so there is nothing to compare:\n{mismatch}"
    );
    assert_no_scratch_left(tmp.path());
}

#[test]
fn compare_reads_density_runs_and_gives_no_verdict_on_one_run_per_side() {
    let tmp = tempfile::tempdir().unwrap();
    let density = |name: String| {
        let out = tmp.path().join(name);
        isobench(tmp.path())
            .args(["density", "-i", "process", "--instances", "3", "--out"])
            .arg(&out)
            .assert()
            .success();
        out.display().to_string()
    };
    let runs: Vec<String> = (0..10).map(|i| density(format!("d{i}"))).collect();
    let compare = |base: &str, new: &str| {
        let output = isobench(tmp.path())
            .args(["compare", base, new, "--fail-on-regression", "0"])
            .assert()
            .get_output()
            .clone();
        String::from_utf8(output.stdout).unwrap()
    };
    let single = compare(&runs[0], &runs[1]);
    for metric in ["all_ready_ns", "per_instance_bytes"] {
        let row = single
            .lines()
            .find(|l| l.starts_with("process ×3") && l.contains(metric))
            .unwrap_or_else(|| panic!("no {metric} row:\n{single}"));
        assert!(row.contains("no verdict"), "{row}");
    }
    let five = compare(&runs[..5].join(","), &runs[5..].join(","));
    let row = five
        .lines()
        .find(|l| l.starts_with("process ×3") && l.contains("all_ready_ns"))
        .unwrap_or_else(|| panic!("no density row:\n{five}"));
    assert!(
        row.contains(" … ") && !row.contains("no verdict"),
        "five runs a side give an interval and a verdict: {row}"
    );
    assert_no_scratch_left(tmp.path());
}
