//! `exec` mode: the probe as a small init/supervisor for the user's command. It reads the spec
//! file ([`isobench_protocol::UserCommand`]), starts the command in its own process group,
//! polls its readiness check inside the isolate, signals ready on the probe's usual channel
//! (`mode=exec work_ns=<start → check passed> pid=<command>`, plus `exit_code=` for `exit:`),
//! holds, and on release stops the command (SIGTERM, SIGKILL after the grace) and reaps it.
//!
//! Threads: one per output pipe ([`output`]), one reaper waiting for any child (orphans
//! re-parent to the probe: it is PID 1 or a subreaper); they send [`Event`]s to the main
//! thread, which polls `tcp:`/`file:` checks between events ([`check`]). A fourth waits for
//! SIGINT/SIGTERM/SIGHUP to stop the command before the probe ends ([`signals`]). Teardown is
//! [`stop`]'s. Calls std lacks are in [`sys`].
//! `log:REGEX` uses regex-lite (the regex authors' small, dependency-free engine; the probe
//! is built with it by a nested cargo, see isolators/build.rs) rather than a hand-written
//! matcher, so users get the regex syntax they know.
mod check;
mod guest;
mod output;
mod signals;
mod stop;
mod sys;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use isobench_protocol::user_command::{
    EXEC_EXIT_COMMAND_ENDED, EXEC_EXIT_NOT_READY, SPEC_FILE_NAME,
};
use isobench_protocol::{ReadyCheck, UserCommand};

use crate::channel::{self, Channel};
use check::NotReady;
use output::LastLines;
use sys::Ended;

/// The command's environment before the spec's own variables.
const BASE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What the output and reaper threads tell the main thread.
#[derive(Debug)]
pub enum Event {
    /// A line matched the `log:` check (the first one only).
    LogMatched(Instant),
    /// The command itself ended.
    Ended(Instant, Ended),
    /// No child of the probe is left.
    AllReaped,
    /// One of the two output pipes reached EOF.
    OutputClosed,
}

/// The running command, as the main thread knows it from the events so far.
pub struct Supervised {
    pid: i32,
    started: Instant,
    events: Receiver<Event>,
    ended: Option<(Instant, Ended)>,
    log_matched: Option<Instant>,
    all_reaped: bool,
    open_outputs: u8,
    lines: LastLines,
}

impl Supervised {
    /// Takes the next event within `timeout`; false when none came.
    fn next_event(&mut self, timeout: Duration) -> bool {
        let event = match self.events.recv_timeout(timeout) {
            Ok(event) => event,
            Err(RecvTimeoutError::Timeout) => return false,
            // Every sender gone: nothing more can happen; treat the silence as a timeout.
            Err(RecvTimeoutError::Disconnected) => {
                std::thread::sleep(timeout);
                return false;
            }
        };
        match event {
            Event::LogMatched(at) => self.log_matched = Some(at),
            Event::Ended(at, ended) => self.ended = Some((at, ended)),
            Event::AllReaped => self.all_reaped = true,
            Event::OutputClosed => self.open_outputs = self.open_outputs.saturating_sub(1),
        }
        true
    }

    /// Takes events until `done` holds or `deadline` passes; returns whether `done` holds.
    fn wait_until(&mut self, deadline: Instant, done: impl Fn(&Supervised) -> bool) -> bool {
        while !done(self) {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            self.next_event(deadline - now);
        }
        true
    }
}

/// Runs `exec` mode to the end and returns the probe's exit status (in a VM, powers off).
pub fn run(channel: &Channel, spec_path: Option<&str>, init_boottime_ns: u64) -> i32 {
    let fail = |status: i32| -> i32 {
        match channel {
            // As /init, returning would panic the guest kernel: end the VM the usual way.
            Channel::Vm => channel::exit(channel),
            _ => status,
        }
    };
    let spec_path = spec_path.map_or_else(|| format!("/{SPEC_FILE_NAME}"), str::to_string);
    let spec = match read_spec(&spec_path) {
        Ok(spec) => spec,
        Err(message) => {
            eprintln!("isobench-probe: {message}");
            return fail(crate::EXIT_WORKLOAD);
        }
    };
    if *channel == Channel::Vm {
        guest::mount_userland();
    }
    let mut supervised = match start(&spec) {
        Ok(supervised) => supervised,
        Err(message) => {
            eprintln!("isobench-probe: {message}");
            return fail(crate::EXIT_WORKLOAD);
        }
    };
    let timeout = Duration::from_millis(spec.ready_timeout_ms);
    let grace = Duration::from_millis(spec.stop_grace_ms);
    let ready = match check::wait_ready(&mut supervised, &spec.ready, timeout) {
        Ok(ready) => ready,
        Err(not_ready) => {
            stop::stop(&mut supervised, grace);
            let (what, status) = match not_ready {
                NotReady::Ended(ended) => (
                    match spec.ready {
                        ReadyCheck::Exit { code } => {
                            format!(
                                "{ended}, not {code} as its readiness check {} expects",
                                spec.ready
                            )
                        }
                        _ => format!("{ended} before its readiness check {} passed", spec.ready),
                    },
                    EXEC_EXIT_COMMAND_ENDED,
                ),
                NotReady::TimedOut => (
                    format!(
                        "did not pass its readiness check {} within {:.1} s (stopped)",
                        spec.ready,
                        timeout.as_secs_f64()
                    ),
                    EXEC_EXIT_NOT_READY,
                ),
            };
            eprintln!(
                "isobench-probe: the command {} {what};\n{}",
                describe(&spec.argv),
                supervised.lines.describe()
            );
            return fail(status);
        }
    };
    let mut report = format!("mode=exec work_ns={} pid={}", ready.work_ns, supervised.pid);
    if let Some(code) = ready.exit_code {
        report.push_str(&format!(" exit_code={code}"));
    }
    let line = crate::ready_line(&report, channel, init_boottime_ns);
    let held = channel::signal_ready_and_hold(channel, &line);
    stop::stop(&mut supervised, grace);
    if let Err(error) = held {
        eprintln!("isobench-probe: {error}");
        return fail(crate::EXIT_CHANNEL);
    }
    channel::exit(channel)
}

/// Reads and parses the spec file, or one line saying what is wrong with it.
fn read_spec(path: &str) -> Result<UserCommand, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!("exec mode: cannot read the command's spec {path}: {e} (isobench writes it from --cmd/--ready; give another with --spec PATH)")
    })?;
    UserCommand::from_spec(&text).map_err(|e| format!("exec mode: the spec {path} is corrupt: {e}"))
}

/// The argv as the user would type it, for messages.
fn describe(argv: &[String]) -> String {
    format!("`{}`", argv.join(" "))
}

/// Starts the command (its own process group, output piped, stdin at EOF) and the threads
/// that follow it. Errors name what could not be started and where it was looked for.
fn start(spec: &UserCommand) -> Result<Supervised, String> {
    let pattern = match &spec.ready {
        ReadyCheck::Log { regex } => {
            Some(Arc::new(regex_lite::Regex::new(regex).map_err(|e| {
                format!("readiness check {}: not a valid regex: {e}", spec.ready)
            })?))
        }
        _ => None,
    };
    if let ReadyCheck::Tcp { .. } = spec.ready {
        // A fresh network namespace or a guest has loopback down: connect would never succeed.
        if let Err(error) = sys::loopback_up() {
            eprintln!("isobench-probe: cannot bring the loopback interface up ({error}); the tcp check may never pass");
        }
    }
    if !Path::new(&spec.workdir).is_dir() {
        return Err(format!(
            "exec mode: the working directory {} does not exist in the isolate's root filesystem",
            spec.workdir
        ));
    }
    let program = &spec.argv[0];
    let mut command = Command::new(program);
    command
        .args(&spec.argv[1..])
        .env_clear()
        .env("PATH", BASE_PATH)
        .env("HOME", "/")
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&spec.workdir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if std::process::id() != 1 {
        sys::become_subreaper()
            .map_err(|e| format!("exec mode: cannot become the command's subreaper: {e}"))?;
    }
    // Before any thread exists: only the signal thread started below receives them.
    signals::block().map_err(|e| format!("exec mode: cannot block SIGINT/SIGTERM/SIGHUP: {e}"))?;
    let probe_pid = std::process::id() as i32;
    // SAFETY: the closure runs between fork and exec; it makes only async-signal-safe calls
    // (sigemptyset, pthread_sigmask, prctl, getppid) and allocates nothing. No other thread
    // exists yet.
    unsafe {
        command.pre_exec(move || {
            sys::unblock_all()?;
            sys::die_with_parent(probe_pid)
        });
    }
    let started = Instant::now();
    let mut child = command.spawn().map_err(|e| cannot_start(spec, &e))?;
    // Closing our end of its stdin: the command reads EOF, as from /dev/null (which a guest's
    // initramfs may not have).
    drop(child.stdin.take());
    let pid = child.id() as i32;
    let (sender, events) = std::sync::mpsc::channel();
    let lines = LastLines::default();
    let pipes: [Box<dyn std::io::Read + Send>; 2] = [
        Box::new(child.stdout.take().expect("stdout is piped")),
        Box::new(child.stderr.take().expect("stderr is piped")),
    ];
    for pipe in pipes {
        output::follow(pipe, lines.clone(), pattern.clone(), sender.clone()).map_err(|e| {
            format!("exec mode: cannot start a thread to read the command's output: {e}")
        })?;
    }
    let command_reaped = Arc::new(AtomicBool::new(false));
    start_reaper(pid, sender, command_reaped.clone())
        .map_err(|e| format!("exec mode: cannot start the reaper thread: {e}"))?;
    let grace = Duration::from_millis(spec.stop_grace_ms);
    signals::watch(pid, grace, command_reaped)
        .map_err(|e| format!("exec mode: cannot start the signal thread: {e}"))?;
    Ok(Supervised {
        pid,
        started,
        events,
        ended: None,
        log_matched: None,
        all_reaped: false,
        open_outputs: 2,
        lines,
    })
}

/// The one line for a command that could not be started.
fn cannot_start(spec: &UserCommand, error: &std::io::Error) -> String {
    let program = &spec.argv[0];
    let path = spec
        .env
        .iter()
        .rev()
        .find(|(key, _)| key == "PATH")
        .map_or(BASE_PATH, |(_, value)| value.as_str());
    let looked_in = match program.contains('/') {
        true => "in the isolate's root filesystem".to_string(),
        false => format!("in PATH={path} of the isolate's root filesystem"),
    };
    match error.kind() {
        std::io::ErrorKind::NotFound => format!(
            "exec mode: cannot start {program:?}: not found {looked_in} (or its interpreter or dynamic loader is missing there); install it in the rootfs or give its full path"
        ),
        std::io::ErrorKind::PermissionDenied => format!(
            "exec mode: cannot start {program:?} {looked_in}: permission denied (not executable?)"
        ),
        _ => format!("exec mode: cannot start {program:?} {looked_in}: {error}"),
    }
}

/// The thread that reaps every child (the command, and every orphan: the probe is PID 1 or a
/// subreaper), telling the main thread when the command ended (and the signal thread, through
/// `command_reaped`) and when no child is left.
fn start_reaper(
    command_pid: i32,
    events: Sender<Event>,
    command_reaped: Arc<AtomicBool>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("reaper".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            while let Some((pid, ended)) = sys::wait_any_child() {
                if pid == command_pid {
                    command_reaped.store(true, Ordering::Release);
                    let _ = events.send(Event::Ended(Instant::now(), ended));
                }
            }
            let _ = events.send(Event::AllReaped);
        })
        .map(drop)
}
