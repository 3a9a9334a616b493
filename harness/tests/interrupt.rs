//! Ctrl-C in the middle of a run: the finished trials are on disk, the run is marked
//! incomplete, and no process, cgroup, mount or scratch directory is left behind.
//!
//! This test process becomes a child subreaper, so anything isobench leaks (a probe, a VMM)
//! would be re-parented to it and found. The tests take turns for the same reason.
mod common;
use common::assert_no_scratch_left;
use std::process::Command;
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use isolators::testing::{check_root, run_if};

static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The host's mounts, less those container daemons (dockerd, podman) make for their own
/// containers: other programs on the host may be running those while this test runs.
fn our_mounts() -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|line| {
            ![
                "/var/lib/docker/",
                "/run/docker/",
                "/var/lib/containers/",
                "/run/containers/",
            ]
            .iter()
            .any(|d| line.contains(d))
        })
        .map(String::from)
        .collect()
}

/// Processes whose parent is this test process.
fn our_children() -> Vec<String> {
    let me = std::process::id() as i32;
    procfs::process::all_processes()
        .unwrap()
        .filter_map(|p| p.ok()?.stat().ok())
        .filter(|s| s.ppid == me)
        .map(|s| format!("{} {} ({})", s.pid, s.comm, s.state))
        .collect()
}

fn instance_cgroups() -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![std::path::PathBuf::from("/sys/fs/cgroup")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                if path.parent().is_some_and(|p| p.ends_with("isobench")) {
                    found.push(path.display().to_string());
                }
                stack.push(path);
            }
        }
    }
    found
}

/// Takes this binary's turn, becomes a child subreaper (so leaked processes re-parent to us)
/// and snapshots the mounts to compare against afterwards.
fn watch_for_leaks() -> (std::sync::MutexGuard<'static, ()>, Vec<String>) {
    let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) only changes how orphans are re-parented.
    let subreaper = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    assert_eq!(subreaper, 0);
    (turn, our_mounts())
}

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
    assert_nothing_left(&mountinfo_before, tmp.path());
}

/// No child process, instance cgroup, mount or scratch directory remains.
fn assert_nothing_left(mountinfo_before: &[String], tmp: &std::path::Path) {
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        our_children().is_empty(),
        "left behind: {:?}",
        our_children()
    );
    assert!(
        instance_cgroups().is_empty(),
        "cgroups left: {:?}",
        instance_cgroups()
    );
    assert_eq!(our_mounts(), mountinfo_before, "mounts changed");
    assert_no_scratch_left(tmp);
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
    assert_nothing_left(&mountinfo_before, tmp.path());
}
