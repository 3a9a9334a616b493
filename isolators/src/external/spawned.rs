//! One engine command started for one instance: its ready channel (see `stdio_channel`), its
//! stderr log, its measuring cgroup, every host process below it, and kill-on-drop.
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use nix::sys::wait::WaitStatus;

use super::procs::{self, ProcessId};
use super::stdio_channel::{Channel, StdioChannel};
use crate::cgroup::{CgroupMemorySource, InstanceCgroup};
use crate::fdchannel::FdChannel;
use crate::isolator::{monotonic_ns, Ready};
use crate::{reap, Error};

/// A name no other instance of any process uses: `isobench-<owner tag>-<n>` (the tag lets a
/// later isobench find the cgroups named after it if we die, see [`crate::orphans`]).
pub fn unique_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "isobench-{}-{}",
        crate::orphans::Owner::current().tag(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The engine process of one instance, our direct child, in its own process group.
pub struct Spawned {
    pub pid: i32,
    pub launched_ns: u64,
    channel: Channel,
    stderr_log: PathBuf,
    /// Every process of the instance seen at ready, checked again at teardown.
    held: Vec<ProcessId>,
    reaped: bool,
    /// How the engine ended, once reaped by us (not after a kill).
    exit_status: Option<WaitStatus>,
    /// CPU the engine and what it reaped used, once reaped by us.
    cpu_ns: Option<u64>,
    /// The measuring cgroup the engine was started in; dropped (killed, removed) after `kill`.
    cgroup: Option<InstanceCgroup>,
}

impl Spawned {
    /// Spawns `command` (already holding the probe's channel arguments), stamping launch
    /// immediately before. `Stdio` channels get piped stdin/stdout; stderr goes to a log in
    /// `log_dir` for error messages.
    /// With `cgroup`, the engine starts inside it (see [`InstanceCgroup::spawn_inside`]).
    pub fn spawn(
        command: &mut Command,
        fd_channel: Option<FdChannel>,
        log_dir: &Path,
        cgroup: Option<InstanceCgroup>,
    ) -> Result<Spawned, Error> {
        Self::spawn_with(command, fd_channel, None, log_dir, cgroup)
    }

    /// Like [`Spawned::spawn`] with a `Stdio` channel, but stdin is a raw terminal (a pty) for
    /// engines that read their console input only from a terminal (Cloud Hypervisor's
    /// `--serial tty`); stdout stays a pipe.
    pub fn spawn_on_terminal(
        command: &mut Command,
        log_dir: &Path,
        cgroup: Option<InstanceCgroup>,
    ) -> Result<Spawned, Error> {
        let (master, terminal) = raw_terminal()?;
        command.stdin(Stdio::from(terminal));
        Self::spawn_with(command, None, Some(master), log_dir, cgroup)
    }

    fn spawn_with(
        command: &mut Command,
        fd_channel: Option<FdChannel>,
        terminal_master: Option<OwnedFd>,
        log_dir: &Path,
        mut cgroup: Option<InstanceCgroup>,
    ) -> Result<Spawned, Error> {
        let stderr_log = log_dir.join(format!("{}.stderr", unique_id()));
        let log = std::fs::File::create(&stderr_log)
            .map_err(|e| Error::io(format!("create {}", stderr_log.display()), e))?;
        let piped = fd_channel.is_none();
        if terminal_master.is_none() {
            command.stdin(if piped { Stdio::piped() } else { Stdio::null() });
        }
        command
            .stdout(if piped { Stdio::piped() } else { Stdio::null() })
            .stderr(log)
            // Its own process group, so a terminal's Ctrl-C reaches only the harness.
            .process_group(0);
        let launched_ns = monotonic_ns();
        let spawned = match cgroup.as_mut() {
            Some(cgroup) => cgroup.spawn_inside(command),
            None => command.spawn().map_err(|e| {
                Error::io(
                    format!("spawn {}", command.get_program().to_string_lossy()),
                    e,
                )
            }),
        };
        if let Some(cgroup) = cgroup.as_mut() {
            cgroup.close_launch_fds();
        }
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                let _ = std::fs::remove_file(&stderr_log);
                return Err(e);
            }
        };
        let channel = match fd_channel {
            Some(mut fd) => {
                fd.close_child_ends();
                Channel::Fd(fd)
            }
            None => Channel::Stdio(StdioChannel::new(
                child.stdout.take().expect("stdout is piped"),
                match terminal_master {
                    Some(master) => Some(std::fs::File::from(master)),
                    None => child
                        .stdin
                        .take()
                        .map(|s| std::fs::File::from(OwnedFd::from(s))),
                },
            )),
        };
        Ok(Spawned {
            pid: child.id() as i32,
            launched_ns,
            channel,
            stderr_log,
            held: Vec::new(),
            reaped: false,
            exit_status: None,
            cpu_ns: None,
            cgroup,
        })
    }

    /// The measuring cgroup's memory, when the engine was started in one.
    pub fn measuring_cgroup(&self) -> Option<CgroupMemorySource> {
        self.cgroup.as_ref().and_then(InstanceCgroup::memory_source)
    }

    /// CPU the engine and every descendant it reaped used, once reaped.
    pub fn cpu_ns(&self) -> Option<u64> {
        self.cpu_ns
    }

    /// Waits for ready; on failure the error carries the engine's stderr.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<Ready, Error> {
        let result = match &mut self.channel {
            Channel::Fd(fd) => fd.wait_ready(self.launched_ns, timeout),
            Channel::Stdio(stdio) => stdio.wait_ready(self.launched_ns, timeout),
        };
        match result {
            Ok(ready) => {
                self.held = procs::identify(&self.processes());
                Ok(ready)
            }
            Err(Error::DiedBeforeReady(why)) => Err(Error::DiedBeforeReady(format!(
                "{why}; engine stderr: {:?}",
                self.stderr_tail()
            ))),
            Err(other) => Err(other),
        }
    }

    /// [`Spawned::wait_ready`], plus the single launch → ready phase named `phase`.
    pub fn wait_ready_phase(&mut self, timeout: Duration, phase: &str) -> Result<Ready, Error> {
        let mut ready = self.wait_ready(timeout)?;
        ready
            .phases
            .push((phase.to_string(), ready.ready_ns - self.launched_ns));
        Ok(ready)
    }

    /// The engine and every process below it, now.
    pub fn processes(&self) -> Vec<i32> {
        if self.reaped {
            return Vec::new();
        }
        procs::descendants(self.pid)
    }

    pub fn release(&mut self) {
        match &mut self.channel {
            Channel::Fd(fd) => {
                let _ = fd.release();
            }
            Channel::Stdio(stdio) => stdio.release(),
        }
    }

    /// Stdio channels: the number of ready lines seen on stdout so far (waiting up to `wait_ms`
    /// for more output), and whether stdout is closed. A second ready line means the guest
    /// rebooted. Fd channels: (0, true).
    pub fn ready_lines_now(&mut self, wait_ms: i32) -> (usize, bool) {
        match &mut self.channel {
            Channel::Stdio(stdio) => stdio.ready_lines_now(wait_ms),
            Channel::Fd(_) => (0, true),
        }
    }

    /// Whether the engine process has exited (it is then reaped).
    pub fn try_reap(&mut self) -> Result<Option<WaitStatus>, Error> {
        if self.reaped {
            return Ok(self.exit_status);
        }
        let reaped = reap::try_reap(self.pid)?;
        if let Some((status, cpu_ns)) = reaped {
            self.reaped = true;
            self.exit_status = Some(status);
            self.cpu_ns = Some(cpu_ns);
        }
        Ok(reaped.map(|(status, _)| status))
    }

    /// Reaps the engine, then waits for every process seen at ready to be gone.
    pub fn wait_gone(&mut self, timeout: Duration) -> Result<WaitStatus, Error> {
        let started = std::time::Instant::now();
        let status = match self.try_reap()? {
            Some(status) => status,
            None if self.reaped => {
                return Err(Error::Engine(
                    "the engine was killed before it exited".into(),
                ))
            }
            None => {
                let (status, cpu_ns) =
                    reap::wait_exit_with_cpu(self.pid, timeout, "the engine process to exit")?;
                self.cpu_ns = Some(cpu_ns);
                status
            }
        };
        self.reaped = true;
        self.exit_status = Some(status);
        let left = timeout.saturating_sub(started.elapsed());
        procs::wait_all_gone(&self.held, left, "the instance's processes to exit")?;
        if let Some(cgroup) = self.cgroup.as_mut() {
            cgroup.remove(timeout.saturating_sub(started.elapsed()))?;
        }
        Ok(status)
    }

    /// Reaps the engine and fails unless it exited with status 0.
    pub fn wait_gone_ok(&mut self, timeout: Duration) -> Result<(), Error> {
        match self.wait_gone(timeout)? {
            WaitStatus::Exited(_, 0) => Ok(()),
            status => Err(Error::Engine(format!(
                "the engine ended with {status:?}; stderr: {:?}",
                self.stderr_tail()
            ))),
        }
    }

    /// The last few hundred bytes the engine wrote to stderr.
    pub fn stderr_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr_log).unwrap_or_default();
        let start = text.len().saturating_sub(600);
        let start = (start..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(text.len());
        text[start..].trim().to_string()
    }

    /// Kills the engine and everything below it; idempotent. For Drop paths.
    pub fn kill(&mut self) {
        if self.reaped {
            return;
        }
        // Freeze the whole tree first, so nothing forks or re-parents while we kill it.
        let mut everyone = procs::stop_tree(self.pid);
        everyone.extend(self.held.iter().copied());
        procs::kill_all(&everyone);
        reap::kill_and_reap(self.pid);
        self.reaped = true;
        let _ = procs::wait_all_gone(&everyone, Duration::from_secs(5), "killed processes");
    }
}

/// A new pseudo-terminal in raw mode (no echo, no line editing): (master, terminal side).
/// Both ends are close-on-exec; `Command` dups the terminal side onto the child's stdin.
fn raw_terminal() -> Result<(OwnedFd, OwnedFd), Error> {
    use nix::fcntl::OFlag;
    use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
    let flags = OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    let master = nix::pty::posix_openpt(flags).map_err(|e| Error::sys("posix_openpt", e))?;
    nix::pty::grantpt(&master).map_err(|e| Error::sys("grantpt", e))?;
    nix::pty::unlockpt(&master).map_err(|e| Error::sys("unlockpt", e))?;
    let name = nix::pty::ptsname_r(&master).map_err(|e| Error::sys("ptsname", e))?;
    let terminal: OwnedFd = nix::fcntl::open(name.as_str(), flags, nix::sys::stat::Mode::empty())
        .map_err(|e| Error::sys(format!("open {name}"), e))?;
    let mut modes = tcgetattr(&terminal).map_err(|e| Error::sys("tcgetattr", e))?;
    cfmakeraw(&mut modes);
    tcsetattr(&terminal, SetArg::TCSANOW, &modes).map_err(|e| Error::sys("tcsetattr", e))?;
    Ok((OwnedFd::from(master), terminal))
}

impl Drop for Spawned {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.stderr_log);
    }
}
