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

fn interrupt_run(isolators: &str, needs_samples_from: &[&str]) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) only changes how orphans are re-parented.
    let subreaper = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    assert_eq!(subreaper, 0);
    let mountinfo_before = our_mounts();
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
    let deadline = Instant::now() + Duration::from_secs(60);
    while !json.exists() {
        assert!(
            Instant::now() < deadline,
            "no checkpoint written within 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "an interrupted run exits 130");
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
    assert_no_scratch_left(tmp.path());
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
