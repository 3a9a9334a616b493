//! Teardown by the probe's `exec` mode, run on the host with real commands: a command that
//! ignores SIGTERM, daemons that left the command's group, the probe itself interrupted by a
//! signal, the probe as PID 1 of a pid namespace; and loopback brought up in a fresh net
//! namespace. After each, nothing of the command is left.
mod probe_exec_support;

use std::process::{Command, Stdio};
use std::time::Duration;

use isolators::testing::{check_on_path, check_root, run_if};
use probe_exec_support::*;

#[test]
fn a_command_ignoring_sigterm_is_killed_after_the_grace() {
    let script = "trap '' TERM; echo up; sleep 100; sleep 100";
    let mut spec = command(&["sh", "-c", script], "log:^up$");
    spec.stop_grace_ms = 500;
    let mut probe = ExecProbe::start(&spec);
    let report = probe.ready().expect("a ready line");
    let pid = pid_of(&report);
    let running = eventually(2, || processes_in_group(pid).len());
    assert_eq!(running, 2, "sh and its sleep");
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

/// As PID 1 (a container's pid namespace, a guest's /init) the probe reaps orphans that
/// re-parent to it while it holds, and on release kills what left the command's process
/// group (a `setsid` daemon), so the namespace ends empty.
#[test]
fn as_pid_1_it_reaps_orphans_and_stops_daemons_that_left_the_group() {
    if !run_if("as_pid_1_it_reaps_orphans…", "root", check_root()) {
        return;
    }
    let script = "setsid sleep 100.303 & (sleep 0.05 &); echo up; exec sleep 100.304";
    let spec = command(&["sh", "-c", script], "log:^up$");
    let mut probe = ExecProbe::start_with(&spec, &["unshare", "-pf"]);
    let report = probe.ready().expect("a ready line");
    assert_ne!(report["pid"], "1", "the command is the probe's child");
    let probe_pid = only_child_of(probe.child.id());
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        zombie_children(probe_pid),
        Vec::<u32>::new(),
        "the orphan sleep 0.05 was reaped"
    );
    assert_eq!(
        processes_with_argument("100.303").len(),
        1,
        "the daemon runs"
    );
    let (status, stderr, took) = probe.release();
    assert_eq!(status, 0, "{stderr}");
    // Not the 5 s the probe would wait for a child it never signalled.
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(processes_with_argument("100.303"), Vec::<u32>::new());
    assert_eq!(processes_with_argument("100.304"), Vec::<u32>::new());
}

/// Ctrl-C (SIGINT) or SIGTERM reaching a supervising probe: it stops the command's whole
/// group (here sh and its sleep, which PR_SET_PDEATHSIG alone would leave running) and exits
/// with 128 + the signal.
#[test]
fn a_probe_interrupted_by_a_signal_stops_the_command_first() {
    for (signal, name, marker) in [(2, "SIGINT", "100.305"), (15, "SIGTERM", "100.306")] {
        let script = format!("echo up; sleep {marker}; echo never");
        let spec = command(&["sh", "-c", &script], "log:^up$");
        let mut probe = ExecProbe::start(&spec);
        let report = probe.ready().expect("a ready line");
        let group = pid_of(&report);
        // sh prints "up" before it starts sleep: give it a moment.
        let running = eventually(2, || processes_with_argument(marker).len());
        assert_eq!(running, 2, "{name}: sh and its sleep run");
        let status = Command::new("kill")
            .args([format!("-{signal}"), probe.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let (status, stderr, _) = probe.ended();
        assert_eq!(status, 128 + signal, "{name}: {stderr}");
        assert!(
            stderr.contains(&format!("signal {signal}: stopping the command")),
            "{stderr}"
        );
        assert!(
            !stderr.contains("never"),
            "{name}: sh was stopped too: {stderr}"
        );
        assert_eq!(processes_with_argument(marker), Vec::<u32>::new(), "{name}");
        assert_eq!(processes_in_group(group), Vec::<String>::new(), "{name}");
    }
}

/// Not PID 1 (the process baseline): a daemon the command started in a session of its own is
/// outside the command's process group, yet it is stopped too: it re-parented to the probe (a
/// subreaper), which kills its remaining children at teardown.
#[test]
fn a_daemon_that_left_the_group_is_stopped_on_the_host_too() {
    let script = "setsid sleep 100.307 & echo up; exec sleep 100.308";
    let spec = command(&["sh", "-c", script], "log:^up$");
    let mut probe = ExecProbe::start(&spec);
    probe.ready().expect("a ready line");
    let running = eventually(1, || processes_started_as("sleep 100.307").len());
    assert_eq!(running, 1, "the daemon runs");
    let (status, stderr, took) = probe.release();
    assert_eq!(status, 0, "{stderr}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(processes_with_argument("100.307"), Vec::<u32>::new());
    assert_eq!(processes_with_argument("100.308"), Vec::<u32>::new());
}
