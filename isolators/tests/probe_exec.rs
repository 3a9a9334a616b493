//! The probe's `exec` mode, run directly on the host (`--channel stdio --mode exec --spec F`)
//! with real commands: each readiness check passing, timing out, and the command dying first;
//! teardown of a command that ignores SIGTERM; loopback brought up in a fresh net namespace.
//! After each, no process of the command is left (checked by its process group).
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use isolators::protocol::user_command::{EXEC_EXIT_COMMAND_ENDED, EXEC_EXIT_NOT_READY};
use isolators::protocol::{ReadyCheck, UserCommand};
use isolators::testing::{check_on_path, check_root, run_if};

/// `sha256sum` of the three bytes "abc" (FIPS 180-2's first example).
const SHA256_OF_ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

fn command(argv: &[&str], ready: &str) -> UserCommand {
    UserCommand {
        argv: argv.iter().map(|a| a.to_string()).collect(),
        env: Vec::new(),
        workdir: "/".into(),
        ready: ready.parse::<ReadyCheck>().unwrap(),
        ready_timeout_ms: 10_000,
        stop_grace_ms: 2_000,
    }
}

/// A running probe in exec mode, with its scratch dir (probe + spec).
struct ExecProbe {
    child: Child,
    stdout: BufReader<std::process::ChildStdout>,
    _scratch: tempfile::TempDir,
}

impl ExecProbe {
    fn start(spec: &UserCommand) -> ExecProbe {
        ExecProbe::start_with(spec, &[])
    }

    /// Runs `wrapper… probe --channel stdio --mode exec --spec F` (e.g. `unshare -n`).
    fn start_with(spec: &UserCommand, wrapper: &[&str]) -> ExecProbe {
        let scratch = tempfile::tempdir().unwrap();
        let probe = isolators::probe::write_probe(scratch.path()).unwrap();
        let spec_path = scratch.path().join("spec");
        std::fs::write(&spec_path, spec.to_spec()).unwrap();
        let mut argv: Vec<PathBuf> = wrapper.iter().map(PathBuf::from).collect();
        argv.push(probe);
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .args(["--channel", "stdio", "--mode", "exec", "--spec"])
            .arg(&spec_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        ExecProbe {
            child,
            stdout,
            _scratch: scratch,
        }
    }

    /// The ready line's `key=value` pairs, or None when the probe ended without one.
    fn ready(&mut self) -> Option<std::collections::BTreeMap<String, String>> {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let report = line.strip_prefix("ISOBENCH-READY ")?;
        Some(
            isolators::protocol::ready_report_pairs(report)
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    /// Releases the probe (a line on stdin), waits for its exit; its status and stderr.
    fn release(mut self) -> (i32, String, Duration) {
        let released = Instant::now();
        let mut stdin = self.child.stdin.take().unwrap();
        let _ = stdin.write_all(b"\n");
        drop(stdin);
        self.finish(released)
    }

    /// Waits for the probe to end by itself (no ready line); its status and stderr.
    fn ended(self) -> (i32, String, Duration) {
        self.finish(Instant::now())
    }

    fn finish(mut self, since: Instant) -> (i32, String, Duration) {
        let mut stderr = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let status = self.child.wait().unwrap();
        (
            status.code().expect("the probe exits, not killed"),
            stderr,
            since.elapsed(),
        )
    }
}

/// Every live process (pid and stat) whose process group is `group` (the command's, which is
/// its pid).
fn processes_in_group(group: u32) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp …: comm may hold spaces, so split after the last ')'.
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 1..]
            .split_whitespace()
            .collect();
        // A zombie is gone already: it waits only for its new parent (the host's init, after
        // the command's own parent died) to collect its status.
        let zombie = fields.first() == Some(&"Z");
        if fields.get(2) == Some(&group.to_string().as_str()) && !zombie {
            found.push(format!("{pid} {}", &stat[stat.find('(').unwrap_or(0)..]));
        }
    }
    found
}

/// Pids of processes whose command line holds `marker` (for commands whose pid we never saw).
fn processes_with_argument(marker: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let zombie = stat[stat.rfind(')')? + 1..].trim_start().starts_with('Z');
            (text.contains(marker) && !zombie).then_some(pid)
        })
        .collect()
}

fn pid_of(report: &std::collections::BTreeMap<String, String>) -> u32 {
    report["pid"].parse().unwrap()
}

fn work_ms(report: &std::collections::BTreeMap<String, String>) -> f64 {
    report["work_ns"].parse::<f64>().unwrap() / 1e6
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn busybox_httpd(port: u16) -> UserCommand {
    let address = format!("127.0.0.1:{port}");
    command(
        &["busybox", "httpd", "-f", "-p", &address, "-h", "/"],
        &format!("tcp:{port}"),
    )
}

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
fn a_command_ignoring_sigterm_is_killed_after_the_grace() {
    let script = "trap '' TERM; echo up; sleep 100; sleep 100";
    let mut spec = command(&["sh", "-c", script], "log:^up$");
    spec.stop_grace_ms = 500;
    let mut probe = ExecProbe::start(&spec);
    let report = probe.ready().expect("a ready line");
    let pid = pid_of(&report);
    assert_eq!(processes_in_group(pid).len(), 2, "sh and its sleep");
    let (status, stderr, took) = probe.release();
    assert_eq!(status, 0, "{stderr}");
    assert!(
        took >= Duration::from_millis(500),
        "SIGTERM was ignored for the grace: {took:?}"
    );
    assert!(took < Duration::from_secs(3), "then SIGKILL: {took:?}");
    assert_eq!(
        processes_in_group(pid),
        Vec::<String>::new(),
        "nothing left"
    );
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
    let probe = isolators::probe::write_probe(dir.path()).unwrap();
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

/// In a fresh network namespace loopback is down: connecting to 127.0.0.1 is "network
/// unreachable" until the probe brings it up before polling `tcp:`.
#[test]
fn tcp_check_in_a_fresh_net_namespace_brings_loopback_up() {
    if !run_if("tcp_check_in_a_fresh_net_namespace…", "root", check_root())
        || !run_if(
            "tcp_check_in_a_fresh_net_namespace…",
            "busybox",
            check_on_path("busybox"),
        )
    {
        return;
    }
    let port = free_port();
    let control = Command::new("unshare")
        .args([
            "-n",
            "busybox",
            "nc",
            "-w",
            "1",
            "127.0.0.1",
            &port.to_string(),
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&control.stderr).contains("Network is unreachable"),
        "loopback starts down in a fresh namespace: {control:?}"
    );
    let mut probe = ExecProbe::start_with(&busybox_httpd(port), &["unshare", "-n"]);
    let report = probe.ready().expect("a ready line inside the namespace");
    let pid = pid_of(&report);
    let (status, stderr, _) = probe.release();
    assert_eq!(status, 0, "{stderr}");
    assert_eq!(processes_in_group(pid), Vec::<String>::new());
}
