//! The probe's `exec` mode, run directly on the host (`--channel stdio --mode exec --spec F`)
//! with real commands: each readiness check passing, timing out, and the command dying first;
//! a command that cannot start, a bad spec. After each, no process of the command is left.
mod probe_exec_support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use isolators::protocol::user_command::{EXEC_EXIT_COMMAND_ENDED, EXEC_EXIT_NOT_READY};
use isolators::testing::{check_on_path, run_if};
use probe_exec_support::*;

#[test]
fn tcp_check_passes_once_the_server_listens_and_release_stops_it() {
    if !run_if("tcp_check_passes…", "busybox", check_on_path("busybox")) {
        return;
    }
    let port = free_port();
    // The server starts listening 0.3 s after the command starts.
    let mut spec = busybox_httpd(port);
    let address = format!("127.0.0.1:{port}");
    let script = format!("sleep 0.3; exec busybox httpd -f -p {address} -h /");
    spec.argv = ["sh", "-c", &script].map(String::from).to_vec();
    let mut probe = ExecProbe::start(&spec);
    let report = probe.ready().expect("a ready line");
    assert_eq!(report["mode"], "exec");
    assert!(work_ms(&report) >= 300.0, "{report:?}");
    let pid = pid_of(&report);
    std::net::TcpStream::connect(&address).expect("the server is up while held");
    let (status, stderr, _) = probe.release();
    assert_eq!(status, 0, "{stderr}");
    assert!(std::net::TcpStream::connect(&address).is_err(), "stopped");
    assert_eq!(
        processes_in_group(pid),
        Vec::<String>::new(),
        "nothing left"
    );
}

#[test]
fn file_check_passes_when_the_file_appears() {
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("ready-flag");
    let script = format!("sleep 0.2; touch {}; sleep 100", flag.display());
    let spec = command(&["sh", "-c", &script], &format!("file:{}", flag.display()));
    let mut probe = ExecProbe::start(&spec);
    let report = probe.ready().expect("a ready line");
    assert!(flag.exists());
    assert!((200.0..5_000.0).contains(&work_ms(&report)), "{report:?}");
    let pid = pid_of(&report);
    let (status, stderr, took) = probe.release();
    assert_eq!(status, 0, "{stderr}");
    assert!(
        took < Duration::from_secs(2),
        "sleep dies on SIGTERM: {took:?}"
    );
    assert_eq!(processes_in_group(pid), Vec::<String>::new());
}

#[test]
fn log_check_passes_on_a_matching_line_and_forwards_the_output() {
    let script = "echo starting; sleep 0.1; echo 'listening on port 4242' >&2; sleep 100";
    let spec = command(&["sh", "-c", script], r"log:listening on port \d+$");
    let mut probe = ExecProbe::start(&spec);
    let report = probe.ready().expect("a ready line");
    assert!(work_ms(&report) >= 100.0, "{report:?}");
    let pid = pid_of(&report);
    let (status, stderr, _) = probe.release();
    assert_eq!(status, 0, "{stderr}");
    assert!(stderr.contains("[cmd] starting\n"), "{stderr}");
    assert!(
        stderr.contains("[cmd] listening on port 4242\n"),
        "{stderr}"
    );
    assert_eq!(processes_in_group(pid), Vec::<String>::new());
}

#[test]
fn log_check_with_a_bad_regex_is_refused_before_anything_starts() {
    let spec = command(&["sh", "-c", "sleep 100.301"], "log:ready (");
    let (status, stderr, _) = ExecProbe::start(&spec).ended();
    assert_eq!(status, 3, "{stderr}");
    assert!(stderr.contains("not a valid regex"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert_eq!(processes_with_argument("100.301"), Vec::<u32>::new());
}

#[test]
fn exit_zero_times_a_batch_command() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input");
    std::fs::write(&input, "abc").unwrap();
    let spec = command(&["sha256sum", input.to_str().unwrap()], "exit:0");
    let mut probe = ExecProbe::start(&spec);
    let report = probe.ready().expect("a ready line");
    assert_eq!(report["exit_code"], "0");
    assert!(work_ms(&report) > 0.0);
    let (status, stderr, _) = probe.release();
    assert_eq!(status, 0, "{stderr}");
    assert!(
        stderr.contains(&format!("[cmd] {SHA256_OF_ABC}  {}", input.display())),
        "{stderr}"
    );
}

#[test]
fn exit_zero_refuses_another_status_with_the_last_lines() {
    let script = "echo 'out line'; echo 'err line' >&2; exit 3";
    let spec = command(&["sh", "-c", script], "exit:0");
    let mut probe = ExecProbe::start(&spec);
    assert!(probe.ready().is_none(), "no ready line");
    let (status, stderr, _) = probe.ended();
    assert_eq!(status, EXEC_EXIT_COMMAND_ENDED, "{stderr}");
    assert!(
        stderr.contains("exited with status 3, not 0 as its readiness check exit:0 expects"),
        "{stderr}"
    );
    assert!(
        stderr.contains("  | out line") && stderr.contains("  | err line"),
        "{stderr}"
    );
}

#[test]
fn a_command_that_dies_before_ready_is_reported_with_its_status() {
    let port = free_port();
    let spec = command(
        &["sh", "-c", "echo 'cannot bind'; exit 7"],
        &format!("tcp:{port}"),
    );
    let (status, stderr, _) = ExecProbe::start(&spec).ended();
    assert_eq!(status, EXEC_EXIT_COMMAND_ENDED, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "exited with status 7 before its readiness check tcp:{port} passed"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("  | cannot bind"), "{stderr}");

    let spec = command(&["sh", "-c", "kill -9 $$"], "file:/nonexistent-isobench");
    let (status, stderr, _) = ExecProbe::start(&spec).ended();
    assert_eq!(status, EXEC_EXIT_COMMAND_ENDED, "{stderr}");
    assert!(
        stderr.contains("was killed by signal 9 (SIGKILL)"),
        "{stderr}"
    );
    assert!(stderr.contains("printed nothing"), "{stderr}");
}

#[test]
fn a_check_that_never_passes_times_out_and_the_command_is_stopped() {
    let mut spec = command(
        &["sh", "-c", "echo waiting; exec sleep 100.302"],
        "file:/nonexistent-isobench",
    );
    spec.ready_timeout_ms = 400;
    let started = Instant::now();
    let (status, stderr, _) = ExecProbe::start(&spec).ended();
    let took = started.elapsed();
    assert_eq!(status, EXEC_EXIT_NOT_READY, "{stderr}");
    assert!(
        stderr.contains("did not pass its readiness check file:/nonexistent-isobench within 0.4 s"),
        "{stderr}"
    );
    assert!(stderr.contains("  | waiting"), "{stderr}");
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert_eq!(processes_with_argument("100.302"), Vec::<u32>::new());
}

#[test]
fn a_command_not_in_the_rootfs_is_one_line_naming_it() {
    let spec = command(&["no-such-command-isobench", "--flag"], "exit:0");
    let (status, stderr, _) = ExecProbe::start(&spec).ended();
    assert_eq!(status, 3, "{stderr}");
    assert!(
        stderr.contains("\"no-such-command-isobench\": not found in PATH=/usr/local/sbin:"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let not_executable = dir.path().join("data");
    std::fs::write(&not_executable, "not a program").unwrap();
    let spec = command(&[not_executable.to_str().unwrap()], "exit:0");
    let (status, stderr, _) = ExecProbe::start(&spec).ended();
    assert_eq!(status, 3, "{stderr}");
    assert!(
        stderr.contains("permission denied (not executable?)"),
        "{stderr}"
    );
    assert!(
        stderr.contains(not_executable.to_str().unwrap()),
        "{stderr}"
    );

    let mut spec = command(&["true"], "exit:0");
    spec.workdir = "/nonexistent-isobench".into();
    let (status, stderr, _) = ExecProbe::start(&spec).ended();
    assert_eq!(status, 3, "{stderr}");
    assert!(
        stderr.contains("working directory /nonexistent-isobench does not exist"),
        "{stderr}"
    );
}

#[test]
fn a_missing_or_corrupt_spec_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let probe = written_probe(dir.path());
    let corrupt = dir.path().join("corrupt");
    std::fs::write(&corrupt, "arg true\nready tcp:0\n").unwrap();
    for (spec, expected) in [
        (dir.path().join("missing"), "cannot read the command's spec"),
        (corrupt, "is corrupt: readiness check \"tcp:0\""),
    ] {
        let output = Command::new(&probe)
            .args(["--channel", "stdio", "--mode", "exec", "--spec"])
            .arg(&spec)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(output.stdout.is_empty());
    }
}
