//! Waiting for a child to exit with a deadline (pidfd + poll), and killing what is left;
//! [`ChildProbe`], a probe that is our direct child, killed and reaped on drop.
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

use crate::fdchannel::FdChannel;
use crate::isolator::Ready;
use crate::Error;

/// Opens a pidfd for `pid` (Linux 5.3+).
pub fn pidfd_open(pid: i32) -> Result<OwnedFd, Error> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(Error::io(
            format!("pidfd_open({pid})"),
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: the kernel just returned this descriptor and nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Waits until child `pid` exits and reaps it. Returns its wait status.
pub fn wait_exit(pid: i32, timeout: Duration, what: &str) -> Result<WaitStatus, Error> {
    wait_exit_with_cpu(pid, timeout, what).map(|(status, _)| status)
}

/// Like [`wait_exit`], and also returns the CPU time (user + system, ns) the child and every
/// descendant it reaped used over their lives, from the kernel's rusage of the reaped child.
pub fn wait_exit_with_cpu(
    pid: i32,
    timeout: Duration,
    what: &str,
) -> Result<(WaitStatus, u64), Error> {
    let pidfd = pidfd_open(pid)?;
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(reaped) = try_reap(pid)? {
            return Ok(reaped);
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(Error::timeout(what.to_string(), timeout));
        }
        let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        match poll(
            &mut fds,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(Error::sys("poll on a pidfd", e)),
        }
    }
}

/// Reaps child `pid` if it has exited (wait4 with WNOHANG): its status and CPU ns, or None.
pub fn try_reap(pid: i32) -> Result<Option<(WaitStatus, u64)>, Error> {
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: rusage is plain old data the kernel fills in; status is a valid out pointer.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: wait4 writes only through the two valid pointers.
        let ret = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        match ret {
            0 => return Ok(None),
            -1 if nix::errno::Errno::last() == nix::errno::Errno::EINTR => continue,
            -1 => {
                return Err(Error::sys(
                    format!("wait4({pid})"),
                    nix::errno::Errno::last(),
                ))
            }
            _ => {
                let status = WaitStatus::from_raw(Pid::from_raw(pid), status)
                    .map_err(|e| Error::sys(format!("wait4({pid}) status"), e))?;
                return Ok(Some((status, rusage_cpu_ns(&usage))));
            }
        }
    }
}

/// User + system time of an rusage, in ns.
pub fn rusage_cpu_ns(usage: &libc::rusage) -> u64 {
    let ns = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1_000;
    ns(usage.ru_utime) + ns(usage.ru_stime)
}

/// SIGKILLs child `pid` and reaps it; for Drop paths, so errors are ignored.
pub fn kill_and_reap(pid: i32) {
    let pid = Pid::from_raw(pid);
    let _ = kill(pid, Signal::SIGKILL);
    let _ = waitpid(pid, None);
}

/// A probe process that is our direct child (the process baseline, the native container's
/// PID 1) with its ready channel. Unless [`ChildProbe::wait_exit`] reaped it, dropping it kills
/// and reaps it, so an instance that holds it first tears it down before its other fields.
pub struct ChildProbe {
    pub pid: i32,
    /// CLOCK_MONOTONIC nanoseconds stamped immediately before the probe was created.
    pub launched_ns: u64,
    channel: FdChannel,
    reaped: bool,
    /// CPU the probe (and whatever it reaped) used, once reaped.
    pub cpu_ns: Option<u64>,
}

impl ChildProbe {
    /// `channel` must already have its child ends closed.
    pub fn new(pid: i32, launched_ns: u64, channel: FdChannel) -> ChildProbe {
        ChildProbe {
            pid,
            launched_ns,
            channel,
            reaped: false,
            cpu_ns: None,
        }
    }

    /// Waits for the ready line; the phases are `earlier` (measured during launch), then
    /// `last` from launch to ready.
    pub fn wait_ready(
        &mut self,
        timeout: Duration,
        earlier: Vec<(String, u64)>,
        last: &str,
    ) -> Result<Ready, Error> {
        let mut ready = self.channel.wait_ready(self.launched_ns, timeout)?;
        ready.phases = earlier;
        ready
            .phases
            .push((last.to_string(), ready.ready_ns - self.launched_ns));
        Ok(ready)
    }

    /// Lets the probe exit.
    pub fn release(&mut self) -> Result<(), Error> {
        self.channel.release()
    }

    /// Waits until the probe exits and reaps it; `what` names it in a timeout.
    pub fn wait_exit(&mut self, timeout: Duration, what: &str) -> Result<WaitStatus, Error> {
        let (status, cpu_ns) = wait_exit_with_cpu(self.pid, timeout, what)?;
        self.reaped = true;
        self.cpu_ns = Some(cpu_ns);
        Ok(status)
    }
}

impl Drop for ChildProbe {
    fn drop(&mut self) {
        if !self.reaped {
            kill_and_reap(self.pid);
        }
    }
}
