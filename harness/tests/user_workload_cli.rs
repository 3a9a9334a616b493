//! `isobench run --rootfs … --cmd … --ready …` as a real binary: every kind of bad input is
//! one line naming what is wrong, and nothing is left in TMPDIR.
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

/// A tree with /bin/sh (a symlink to an empty /bin/busybox; the tests never run it).
fn tree(tmp: &Path) -> std::path::PathBuf {
    let tree = tmp.join("tree");
    std::fs::create_dir_all(tree.join("bin")).unwrap();
    std::fs::write(tree.join("bin/busybox"), b"").unwrap();
    std::os::unix::fs::symlink("busybox", tree.join("bin/sh")).unwrap();
    tree
}

fn refused(extra: &[&str], needle: &'static str) {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tree(tmp.path());
    let out = tmp.path().join("out");
    let mut args: Vec<String> = ["run", "-i", "container", "--runs", "1", "--out"]
        .map(String::from)
        .to_vec();
    args.push(out.display().to_string());
    args.extend(
        extra
            .iter()
            .map(|a| a.replace("TREE", &tree.display().to_string())),
    );
    isobench(tmp.path())
        .args(&args)
        .assert()
        .failure()
        .stderr(one_line_error(needle));
    assert!(!out.exists(), "a refused run made {}", out.display());
    assert_no_scratch_left(tmp.path());
}

#[test]
fn the_three_flags_go_together() {
    refused(
        &["--rootfs", "TREE", "--ready", "exit:0"],
        "--rootfs, --cmd and --ready go together: missing --cmd",
    );
    refused(
        &["--cmd", "sh"],
        "--rootfs, --cmd and --ready go together: missing --rootfs and --ready",
    );
    refused(
        &["--workload", "exec"],
        "--workload exec runs your command: give --rootfs, --cmd and --ready",
    );
    refused(
        &["--env", "A=b"],
        "--env and --workdir shape your command: give --rootfs, --cmd and --ready too",
    );
}

#[test]
fn a_bad_command_rootfs_or_workload_is_one_line() {
    let flags = |cmd: &'static str| ["--rootfs", "TREE", "--ready", "exit:0", "--cmd", cmd];
    refused(&flags(""), "--cmd is empty");
    refused(&flags("sh -c 'oops"), "unbalanced quotes");
    refused(
        &flags("python3 -m http.server"),
        "--cmd python3: not found in the rootfs",
    );
    refused(
        &flags("/bin/bash"),
        "--cmd /bin/bash: no such file in the rootfs",
    );
    refused(
        &[
            "--rootfs",
            "/nonexistent/rootfs",
            "--cmd",
            "sh",
            "--ready",
            "exit:0",
        ],
        "--rootfs /nonexistent/rootfs:",
    );
    let mut touch = flags("sh").to_vec();
    touch.extend(["--workload", "touch:4"]);
    refused(&touch, "--workload touch:4 conflicts with --cmd");
    let mut workdir = flags("sh").to_vec();
    workdir.extend(["--workdir", "srv"]);
    refused(&workdir, "--workdir srv: must be an absolute path");
}

#[test]
fn a_bad_readiness_check_or_duration_names_the_forms() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tree(tmp.path());
    isobench(tmp.path())
        .args([
            "run",
            "-i",
            "container",
            "--cmd",
            "sh",
            "--ready",
            "http:80",
        ])
        .arg("--rootfs")
        .arg(&tree)
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "use tcp:PORT, file:PATH, log:REGEX or exit:CODE",
        ));
    isobench(tmp.path())
        .args(["run", "-i", "container", "--cmd", "sh", "--ready", "exit:0"])
        .args(["--ready-timeout", "soon", "--rootfs"])
        .arg(&tree)
        .assert()
        .failure()
        .stderr(predicate::str::contains("write e.g. 30s, 1m, 500ms"));
    assert_no_scratch_left(tmp.path());
}

#[test]
fn density_and_burst_take_the_same_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tree(tmp.path());
    for command in ["density", "burst"] {
        isobench(tmp.path())
            .args([command, "-i", "container", "--cmd", "sh", "--rootfs"])
            .arg(&tree)
            .assert()
            .failure()
            .stderr(one_line_error(
                "--rootfs, --cmd and --ready go together: missing --ready",
            ));
    }
    assert_no_scratch_left(tmp.path());
}

/// A command that exits before its check passes: the run fails, and the trial's failure in
/// run.json (and on stderr) carries its exit status and last output lines.
#[test]
fn a_command_that_dies_first_is_reported_with_its_status_and_output() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let assert = isobench(tmp.path())
        .args(["run", "-i", "process", "--runs", "1", "--warmup", "0"])
        .args(["--host-batch", "0", "--rootfs", "/", "--ready", "tcp:9"])
        .args(["--cmd", "sh -c 'echo oops >&2; exit 3'", "--out"])
        .arg(&out)
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(stderr.contains("exited with status 3"), "{stderr}");
    let record = reports::RunRecord::load(&out.join("run.json")).unwrap();
    let failure = &record.isolator("process").unwrap().failures[0].message;
    assert!(failure.contains("exited with status 3"), "{failure}");
    assert!(failure.contains("oops"), "{failure}");
    assert_no_scratch_left(tmp.path());
}
