//! Ctrl-C in the middle of a run: the finished trials are on disk, the run is marked
//! incomplete, and no process, cgroup, mount or scratch directory is left behind.
//!
//! This test process becomes a child subreaper, so anything isobench leaks (a probe, a VMM)
//! would be re-parented to it and found. The tests take turns for the same reason.
mod common;
use common::leaks::{assert_nothing_left_of, watch_for_leaks};
use std::process::Command;
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use isolators::testing::{check_root, run_if};

fn interrupt_run(isolators: &str, needs_samples_from: &[&str]) {
    let (_turn, mountinfo_before) = watch_for_leaks();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut child = Command::cargo_bin("isobench")
        .unwrap()
        .env("TMPDIR", tmp.path())
        .args([
            "run", "-i", isolators, "--runs", "1000000", "--warmup", "0", "--out",
        ])
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let json = out.join("run.json");
    let pid = child.id();
    let code = interrupt_once_written(&mut child, &json, Duration::from_millis(300));
    assert_eq!(code, Some(130), "an interrupted run exits 130");
    let record = reports::RunRecord::load(&json).unwrap();
    assert!(!record.complete, "an interrupted run is marked incomplete");
    for name in needs_samples_from {
        let isolator = record.isolator(name).unwrap();
        assert!(
            !isolator.samples.is_empty(),
            "{name} has no samples on disk"
        );
        assert!(
            isolator.failures.is_empty(),
            "{name}: the interrupted trial is not a failure: {:?}",
            isolator.failures
        );
    }
    assert_nothing_left_of(&mountinfo_before, tmp.path(), pid);
}

/// Sends SIGINT to `child` once `file` exists plus `after`; returns its exit code.
fn interrupt_once_written(
    child: &mut std::process::Child,
    file: &std::path::Path,
    after: Duration,
) -> Option<i32> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !file.exists() {
        assert!(
            Instant::now() < deadline,
            "{} not written within 60 s",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(after);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    child.wait().unwrap().code()
}

#[test]
fn ctrl_c_during_process_trials() {
    interrupt_run("process", &["process"]);
}

#[test]
fn ctrl_c_during_container_and_microvm_trials() {
    if !run_if(
        "ctrl_c_during_container_and_microvm_trials",
        "root",
        check_root(),
    ) {
        return;
    }
    let host = isolators::Host::detect();
    if !run_if(
        "ctrl_c_during_container_and_microvm_trials",
        "kvm",
        host.kvm.problem.clone().map_or(Ok(()), Err),
    ) {
        return;
    }
    interrupt_run("container,microvm", &["process", "container", "microvm"]);
}

/// Warm starts, with each VMM started ahead of its launch stamp in the second row: a VMM
/// spawned and waiting for its start byte when the signal lands is killed and reaped too.
#[test]
fn ctrl_c_during_restore_trials() {
    let test = "ctrl_c_during_restore_trials";
    if !run_if(test, "root", check_root()) {
        return;
    }
    let host = isolators::Host::detect();
    if !run_if(test, "kvm", host.kvm.problem.clone().map_or(Ok(()), Err)) {
        return;
    }
    interrupt_run(
        "microvm-restore,microvm-restore-prestarted",
        &["process", "microvm-restore", "microvm-restore-prestarted"],
    );
}

#[test]
fn ctrl_c_while_density_holds_containers() {
    let test = "ctrl_c_while_density_holds_containers";
    if !run_if(test, "root", check_root()) {
        return;
    }
    let (_turn, mountinfo_before) = watch_for_leaks();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("density");
    // The first point is written within milliseconds; 1000 containers take about a second,
    // so the signal lands while instances are being launched and held. microvm never starts.
    let mut child = Command::cargo_bin("isobench")
        .unwrap()
        .env("TMPDIR", tmp.path())
        .args([
            "density",
            "-i",
            "container,microvm",
            "--instances",
            "1,1000",
            "--parallel",
            "2",
            "--out",
        ])
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let json = out.join("density.json");
    let pid = child.id();
    let code = interrupt_once_written(&mut child, &json, Duration::from_millis(150));
    assert_eq!(code, Some(130), "an interrupted density run exits 130");
    let record = reports::RunRecord::load(&json).unwrap();
    assert!(!record.complete, "marked incomplete");
    let last = record.density.last().expect("points on disk");
    assert_eq!(last.isolator, "container", "{:?}", record.density);
    assert_eq!(last.requested, 1000);
    assert!(last.reached < 1000, "{last:?}");
    assert_eq!(last.stopped_because.as_deref(), Some("interrupted"));
    assert!(last.leftovers.is_empty(), "{:?}", last.leftovers);
    assert!(
        record.density.iter().all(|p| p.isolator != "microvm"),
        "no isolator starts after Ctrl-C"
    );
    assert_nothing_left_of(&mountinfo_before, tmp.path(), pid);
}

#[test]
fn ctrl_c_while_a_burst_waits_on_its_schedule() {
    let test = "ctrl_c_while_a_burst_waits_on_its_schedule";
    if !run_if(test, "root", check_root()) {
        return;
    }
    let (_turn, mountinfo_before) = watch_for_leaks();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("burst");
    // The closed-loop point is written within a second; the open loop then needs 10 s for its
    // 200 launches at 20/s, so the signal lands while its workers sleep until their launches
    // are due and some containers are in flight. process never starts.
    let mut child = Command::cargo_bin("isobench")
        .unwrap()
        .env("TMPDIR", tmp.path())
        .args([
            "burst",
            "-i",
            "container,process",
            "--concurrency",
            "2",
            "--rate",
            "20",
            "--launches",
            "200",
            "--out",
        ])
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let json = out.join("burst.json");
    let pid = child.id();
    let code = interrupt_once_written(&mut child, &json, Duration::from_millis(1500));
    assert_eq!(code, Some(130), "an interrupted burst exits 130");
    let record = reports::RunRecord::load(&json).unwrap();
    assert!(!record.complete, "marked incomplete");
    assert_eq!(record.burst.len(), 2, "{:?}", record.burst);
    let open = &record.burst[1];
    assert!(matches!(open.load, reports::BurstLoad::Open { .. }));
    assert_eq!(open.stopped_because.as_deref(), Some("interrupted"));
    assert!(
        !open.samples.is_empty() && open.samples.len() < 200,
        "{} launches finished",
        open.samples.len()
    );
    assert_eq!(open.failures, 0, "{:?}", open.first_error);
    assert!(record.burst.iter().all(|p| p.leftovers.is_empty()));
    assert!(
        record.burst.iter().all(|p| p.isolator == "container"),
        "no isolator starts after Ctrl-C"
    );
    assert_nothing_left_of(&mountinfo_before, tmp.path(), pid);
}
