//! Ctrl-C in the middle of a run of the user's command (a shell that ignores SIGTERM, in a
//! busybox-static tree): the run exits 130 marked incomplete with its finished trials, and no
//! process, cgroup, mount, scratch directory or imported image is left behind.
//!
//! This test process becomes a child subreaper, so anything isobench leaks (the command, a
//! probe) would be re-parented to it and found.
mod common;
use common::leaks::{assert_nothing_left_of, watch_for_leaks};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use isolators::testing::{check_on_path, check_root, run_if};

/// A tree with the host's static busybox as /bin/busybox and /bin/sh.
fn busybox_tree(dir: &Path) -> std::path::PathBuf {
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", tree.join("bin/busybox"))
        .expect("/bin/busybox: install busybox-static (scripts/setup-test-host.sh does)");
    for applet in ["sh", "sleep"] {
        std::os::unix::fs::symlink("busybox", tree.join("bin").join(applet)).unwrap();
    }
    tree
}

/// Runs `isolators` on the stubborn shell until run.json is written, interrupts it, and checks
/// the record and that nothing is left. Returns isobench's pid.
fn interrupt_user_run(isolators: &str) -> u32 {
    let (_turn, mountinfo_before) = watch_for_leaks();
    let tmp = tempfile::tempdir().unwrap();
    let tree = busybox_tree(tmp.path());
    let out = tmp.path().join("out");
    let script = "trap '' TERM; echo up > /tmp/up; while true; do sleep 1; done";
    let mut child = Command::cargo_bin("isobench")
        .unwrap()
        .env("TMPDIR", tmp.path())
        .args(["run", "-i", isolators, "--runs", "1000000", "--warmup", "0"])
        .args([
            "--host-batch",
            "0",
            "--stop-grace",
            "300ms",
            "--ready",
            "file:/tmp/up",
        ])
        .arg("--cmd")
        .arg(format!("sh -c \"{script}\""))
        .arg("--rootfs")
        .arg(&tree)
        .arg("--out")
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let json = out.join("run.json");
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !json.exists() {
        assert!(
            Instant::now() < deadline,
            "run.json not written within 120 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(1500));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let code = child.wait().unwrap().code();
    assert_eq!(code, Some(130), "an interrupted run exits 130");
    let record = reports::RunRecord::load(&json).unwrap();
    assert!(!record.complete, "an interrupted run is marked incomplete");
    let user = record.config.user_workload.as_ref().expect("recorded");
    assert_eq!(user.ready, "file:/tmp/up");
    for name in isolators.split(',') {
        let isolator = record.isolator(name).unwrap();
        assert!(
            !isolator.samples.is_empty(),
            "{name} has no samples on disk"
        );
        assert!(
            isolator.failures.is_empty(),
            "{name}: {:?}",
            isolator.failures
        );
    }
    assert_nothing_left_of(&mountinfo_before, tmp.path(), pid);
    assert!(tree.join("bin/busybox").is_file());
    assert!(
        !tree.join("isobench-probe").exists(),
        "written into the tree"
    );
    pid
}

/// bwrap is left out: its pid-namespace init can outlive the outer bwrap by a moment, and is
/// then re-parented to this test's subreaper as a zombie even without Ctrl-C (a dead process,
/// reaped by init outside the test; seen with the probe alone too).
#[test]
fn ctrl_c_during_a_user_command_under_container_and_unshare() {
    let test = "ctrl_c_during_a_user_command_under_container_and_unshare";
    if !run_if(test, "root", check_root()) || !run_if(test, "unshare", check_on_path("unshare")) {
        return;
    }
    interrupt_user_run("container,unshare");
}

#[test]
fn ctrl_c_during_a_user_command_under_docker_removes_its_image() {
    let test = "ctrl_c_during_a_user_command_under_docker_removes_its_image";
    let daemon = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .map_err(|e| e.to_string())
        .and_then(|o| match o.status.success() {
            true => Ok(()),
            false => Err(String::from_utf8_lossy(&o.stderr).trim().to_string()),
        });
    if !run_if(test, "root", check_root()) || !run_if(test, "docker", daemon) {
        return;
    }
    let pid = interrupt_user_run("docker");
    let images = Command::new("docker")
        .args(["images", "--format", "{{.Repository}}"])
        .output()
        .unwrap();
    let images = String::from_utf8_lossy(&images.stdout).to_string();
    let ours = format!("isobench-{pid}-");
    assert!(
        !images.lines().any(|name| name.starts_with(&ours)),
        "an image of isobench {pid} is left: {images}"
    );
}
