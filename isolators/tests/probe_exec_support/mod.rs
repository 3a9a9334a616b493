//! Running the probe's `exec` mode directly on the host for the probe_exec tests: the probe
//! and its spec in a scratch dir, its ready line and exit, and the leak checks (processes left
//! in the command's group, or naming a marker argument; zombie children).
#![allow(dead_code)] // each test binary uses its own part

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use isolators::protocol::{ReadyCheck, UserCommand};

/// `sha256sum` of the three bytes "abc" (FIPS 180-2's first example).
pub const SHA256_OF_ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

pub fn command(argv: &[&str], ready: &str) -> UserCommand {
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
pub struct ExecProbe {
    pub child: Child,
    stdout: BufReader<std::process::ChildStdout>,
    _scratch: tempfile::TempDir,
}

impl ExecProbe {
    pub fn start(spec: &UserCommand) -> ExecProbe {
        ExecProbe::start_with(spec, &[])
    }

    /// Runs `argv` as it is (a probe already placed, e.g. in a chroot), stdio piped.
    pub fn start_argv(argv: &[&str]) -> ExecProbe {
        let mut command = Command::new(argv[0]);
        command.args(&argv[1..]);
        ExecProbe::spawn(command, tempfile::tempdir().unwrap())
    }

    /// Spawns `command` with stdin, stdout and stderr piped; `scratch` lives as long as it.
    fn spawn(mut command: Command, scratch: tempfile::TempDir) -> ExecProbe {
        let mut child = command
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

    /// Runs `wrapper… probe --channel stdio --mode exec --spec F` (e.g. `unshare -n`).
    pub fn start_with(spec: &UserCommand, wrapper: &[&str]) -> ExecProbe {
        let scratch = tempfile::tempdir().unwrap();
        let probe = written_probe(scratch.path());
        let spec_path = scratch.path().join("spec");
        std::fs::write(&spec_path, spec.to_spec()).unwrap();
        let mut argv: Vec<PathBuf> = wrapper.iter().map(PathBuf::from).collect();
        argv.push(probe);
        let mut command = Command::new(&argv[0]);
        command
            .args(&argv[1..])
            .args(["--channel", "stdio", "--mode", "exec", "--spec"])
            .arg(&spec_path);
        ExecProbe::spawn(command, scratch)
    }

    /// The ready line's `key=value` pairs, or None when the probe ended without one.
    pub fn ready(&mut self) -> Option<BTreeMap<String, String>> {
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
    pub fn release(mut self) -> (i32, String, Duration) {
        let released = Instant::now();
        let mut stdin = self.child.stdin.take().unwrap();
        let _ = stdin.write_all(b"\n");
        drop(stdin);
        self.finish(released)
    }

    /// Waits for the probe to end by itself (no ready line); its status and stderr.
    pub fn ended(self) -> (i32, String, Duration) {
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

/// Writes the probe into `dir` and waits until it can be executed: a child another test
/// forks while the file is open for writing holds it until that child's exec, and an exec of
/// the probe meanwhile fails with "Text file busy" (ETXTBSY).
pub fn written_probe(dir: &std::path::Path) -> PathBuf {
    let probe = isolators::probe::write_probe(dir).unwrap();
    settle(&probe);
    probe
}

/// Waits until the probe just written at `probe` can be executed (see [`written_probe`]).
pub fn settle(probe: &std::path::Path) {
    for _ in 0..200 {
        match Command::new(probe).arg("--help").output() {
            Err(error) if error.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(error) => panic!("cannot run {}: {error}", probe.display()),
            Ok(_) => return,
        }
    }
    panic!("{} stayed busy for 2 s", probe.display());
}

/// Every live process (pid and stat) whose process group is `group` (the command's, which is
/// its pid).
pub fn processes_in_group(group: u32) -> Vec<String> {
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
pub fn processes_with_argument(marker: &str) -> Vec<u32> {
    processes_whose_command_line(|line| line.contains(marker))
}

/// Pids of processes whose command line starts with `start` (`sleep 100.307`, not the shell
/// or the `setsid` that ran it).
pub fn processes_started_as(start: &str) -> Vec<u32> {
    processes_whose_command_line(|line| line.starts_with(start))
}

/// Live processes whose command line (arguments joined by spaces) satisfies `wanted`.
fn processes_whose_command_line(wanted: impl Fn(&str) -> bool) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let zombie = stat[stat.rfind(')')? + 1..].trim_start().starts_with('Z');
            (wanted(&text) && !zombie).then_some(pid)
        })
        .collect()
}

/// `count()` once it reaches `expected`, or its last value after 5 s (a shell prints before
/// it starts its next command).
pub fn eventually(expected: usize, count: impl Fn() -> usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = count();
        if now >= expected || Instant::now() >= deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn pid_of(report: &BTreeMap<String, String>) -> u32 {
    report["pid"].parse().unwrap()
}

pub fn work_ms(report: &BTreeMap<String, String>) -> f64 {
    report["work_ns"].parse::<f64>().unwrap() / 1e6
}

pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

pub fn busybox_httpd(port: u16) -> UserCommand {
    let address = format!("127.0.0.1:{port}");
    command(
        &["busybox", "httpd", "-f", "-p", &address, "-h", "/"],
        &format!("tcp:{port}"),
    )
}

/// Host pids of `parent`'s children that are zombies (exited, never reaped).
pub fn zombie_children(parent: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
            let zombie_child = fields.first() == Some(&"Z") && fields.get(1)?.parse() == Ok(parent);
            zombie_child.then_some(pid)
        })
        .collect()
}

/// The probe's host pid when `unshare -pf` (pid `wrapper`) started it as PID 1 of a new
/// pid namespace: the wrapper's only child.
pub fn only_child_of(wrapper: u32) -> u32 {
    let children =
        std::fs::read_to_string(format!("/proc/{wrapper}/task/{wrapper}/children")).unwrap();
    children.trim().parse().expect("unshare -f has one child")
}
