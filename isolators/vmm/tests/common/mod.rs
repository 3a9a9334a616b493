//! Running the built `isobench-vmm` with a report pipe, a deadline and captured output; test
//! gating by capability (the workspace rule, from `test-gate`).
#![allow(dead_code, unused_imports)] // each test file uses part of this module

pub mod guests;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

pub use isobench_vmm::report::monotonic_ns;

pub const VMM: &str = env!("CARGO_BIN_EXE_isobench-vmm");

pub use test_gate::{check_root, required, run_if};

/// `Ok` when /dev/kvm opens read-write.
pub fn check_kvm() -> Result<(), String> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .map(drop)
        .map_err(|e| format!("/dev/kvm: {e}"))
}

/// True on hosts whose KVM is software (kvm_pvm): only tiny guests run there.
pub fn software_kvm() -> bool {
    Path::new("/sys/module/kvm_pvm").exists()
}

/// A real guest kernel: `$ISOBENCH_KERNEL`, else the cache `scripts/fetch-guest-kernel.sh` fills.
pub fn guest_kernel() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("ISOBENCH_KERNEL") {
        return Ok(PathBuf::from(path));
    }
    let home = std::env::var_os("HOME").ok_or("HOME is not set")?;
    let cached = Path::new(&home).join(".cache/isobench/kernel/vmlinuz");
    if cached.exists() {
        Ok(cached)
    } else {
        Err(format!(
            "no $ISOBENCH_KERNEL and no {} — run scripts/fetch-guest-kernel.sh",
            cached.display()
        ))
    }
}

/// What one VMM run left behind.
#[derive(Debug)]
pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
    /// Lines written to `--report-fd`.
    pub report: Vec<String>,
    /// CLOCK_MONOTONIC just before the spawn.
    pub spawned_ns: u64,
}

impl Outcome {
    /// The first report line starting with `prefix`.
    pub fn line(&self, prefix: &str) -> Option<&str> {
        self.report
            .iter()
            .find(|l| l.starts_with(prefix))
            .map(String::as_str)
    }

    /// The number at the end of the report line starting with `prefix`.
    pub fn stamp(&self, prefix: &str) -> u64 {
        let line = self
            .line(prefix)
            .unwrap_or_else(|| panic!("no {prefix:?} in {:?}", self.report));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    }

    /// Asserts a failure explained in exactly one stderr line containing `needle`, and the
    /// same line on the report pipe as `error …` when the run got that far.
    pub fn assert_one_line_error(&self, needle: &str) {
        assert_ne!(self.code, Some(0), "should fail: {self:?}");
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one stderr line, got {:?}", self.stderr);
        assert!(
            lines[0].contains(needle),
            "{needle:?} not in {:?}",
            lines[0]
        );
        if !self.report.is_empty() {
            let message = lines[0].strip_prefix("isobench-vmm: ").unwrap_or(lines[0]);
            assert_eq!(
                self.report.last().map(String::as_str),
                Some(format!("error {message}").as_str()),
                "the report pipe ends with the same error"
            );
        }
    }
}

/// How to run the VMM for a test.
pub struct Run<'a> {
    pub args: Vec<String>,
    pub stdin: &'a [u8],
    pub timeout: Duration,
    /// Pass `--report-fd` (a pipe read into [`Outcome::report`]).
    pub report_fd: bool,
    /// Runs in the child before exec (as root: drop privileges, hide /dev).
    pub before_exec: Option<fn() -> std::io::Result<()>>,
    /// Further descriptors the VMM inherits (e.g. a `--start-fd` pipe).
    pub inherit_fds: Vec<i32>,
}

impl<'a> Run<'a> {
    pub fn new(args: &[&str]) -> Run<'a> {
        Run {
            args: args.iter().map(|a| a.to_string()).collect(),
            stdin: b"",
            timeout: Duration::from_secs(20),
            report_fd: true,
            before_exec: None,
            inherit_fds: Vec::new(),
        }
    }

    pub fn kernel(kernel: &Path, extra: &[&str]) -> Run<'a> {
        let mut run = Run::new(&["--kernel", &kernel.to_string_lossy()]);
        run.args.extend(extra.iter().map(|a| a.to_string()));
        run
    }

    /// Spawns the VMM with `--report-fd`, feeds stdin, waits (killing it at the deadline).
    pub fn go(self) -> Outcome {
        let stdin = self.stdin;
        let mut running = self.spawn();
        running.write_stdin(stdin);
        running.finish()
    }

    /// Spawns the VMM; a watchdog kills it (through a pidfd) once `timeout` has passed.
    pub fn spawn(self) -> Running {
        let (report_read, report_write) = pipe();
        let write_fd = report_write.as_raw_fd();
        let mut command = Command::new(VMM);
        command.args(&self.args);
        if self.report_fd {
            command.args(["--report-fd", &write_fd.to_string()]);
        }
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let before_exec = self.before_exec;
        let mut inherit = self.inherit_fds.clone();
        inherit.push(write_fd);
        // SAFETY: the closure only calls async-signal-safe functions (fcntl, and the caller's
        // `before_exec`, which is held to the same rule) between fork and exec, and iterates a
        // vector it owns without allocating.
        unsafe {
            command.pre_exec(move || {
                for &fd in &inherit {
                    if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                before_exec.map_or(Ok(()), |f| f())
            });
        }
        let spawned_ns = monotonic_ns();
        let child = command.spawn().expect("spawn isobench-vmm");
        drop(report_write);
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.id(), 0) };
        assert!(
            pidfd >= 0,
            "pidfd_open: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: the descriptor was just created and nothing else owns it.
        let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as i32) };
        let (stop_watchdog, stopped) = mpsc::channel::<()>();
        let timed_out = Arc::new(AtomicBool::new(false));
        let flag = timed_out.clone();
        let timeout = self.timeout;
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(timeout) {
                flag.store(true, Ordering::SeqCst);
                // SAFETY: the pidfd names exactly our child (even once reaped: then ESRCH).
                unsafe {
                    libc::syscall(
                        libc::SYS_pidfd_send_signal,
                        pidfd.as_raw_fd(),
                        libc::SIGKILL,
                        0,
                        0,
                    )
                };
            }
        });
        Running {
            child,
            report: BufReader::new(std::fs::File::from(report_read)),
            report_lines: Vec::new(),
            spawned_ns,
            args: self.args,
            stop_watchdog,
            timed_out,
        }
    }
}

/// A VMM that is running.
pub struct Running {
    pub child: Child,
    report: BufReader<std::fs::File>,
    /// Report lines read so far.
    pub report_lines: Vec<String>,
    pub spawned_ns: u64,
    args: Vec<String>,
    stop_watchdog: mpsc::Sender<()>,
    timed_out: Arc<AtomicBool>,
}

impl Running {
    /// Reads report lines until one starts with `prefix` and returns it.
    pub fn wait_for(&mut self, prefix: &str) -> String {
        loop {
            let mut line = String::new();
            let read = self.report.read_line(&mut line).unwrap();
            assert!(
                read > 0,
                "report ended before {prefix:?}: {:?}",
                self.report_lines
            );
            let line = line.trim_end().to_string();
            self.report_lines.push(line.clone());
            if line.starts_with(prefix) {
                return line;
            }
        }
    }

    /// Writes to the VMM's stdin (the guest's serial input); a VMM that already exited is fine.
    pub fn write_stdin(&mut self, bytes: &[u8]) {
        if let Some(stdin) = self.child.stdin.as_mut() {
            let _ = stdin.write_all(bytes);
        }
    }

    /// Closes stdin, waits for the exit and collects everything.
    pub fn finish(mut self) -> Outcome {
        drop(self.child.stdin.take());
        let output = self.child.wait_with_output().unwrap();
        let _ = self.stop_watchdog.send(());
        assert!(
            !self.timed_out.load(Ordering::SeqCst),
            "isobench-vmm {:?} was still running at the deadline",
            self.args
        );
        let mut rest = String::new();
        self.report.read_to_string(&mut rest).unwrap();
        self.report_lines.extend(rest.lines().map(String::from));
        Outcome {
            code: output.status.code(),
            stdout: output.stdout,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            report: self.report_lines,
            spawned_ns: self.spawned_ns,
        }
    }
}

/// A pipe whose ends close on exec (the child gets the write end by `pre_exec`).
pub fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array we own.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just created and are owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// Writes `bytes` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}
