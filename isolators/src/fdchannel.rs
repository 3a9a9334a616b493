//! The pipe pair between harness and probe: the probe writes its ready line to one, and holds
//! until the harness writes to (or closes) the other.
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::time::Duration;

use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::isolator::{monotonic_ns, parse_ready_report, Ready};
use crate::Error;

/// Harness side of the probe's `fd:R,W` channel.
pub struct FdChannel {
    ready_read: std::fs::File,
    release_write: Option<OwnedFd>,
    /// The probe's ends; handed to the child, then closed here with [`FdChannel::close_child_ends`].
    child_release: Option<OwnedFd>,
    child_ready: Option<OwnedFd>,
}

impl FdChannel {
    /// Creates both pipes. The child's ends are not close-on-exec so the probe inherits them.
    pub fn new() -> Result<FdChannel, Error> {
        let (ready_read, child_ready) =
            nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::sys("pipe2", e))?;
        let (child_release, release_write) =
            nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::sys("pipe2", e))?;
        for fd in [&child_ready, &child_release] {
            nix::fcntl::fcntl(
                fd.as_fd(),
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
            )
            .map_err(|e| Error::sys("fcntl", e))?;
        }
        Ok(FdChannel {
            ready_read: std::fs::File::from(ready_read),
            release_write: Some(release_write),
            child_release: Some(child_release),
            child_ready: Some(child_ready),
        })
    }

    /// The probe's `--channel` argument for these pipes, valid in a child that inherits them.
    pub fn probe_channel_arg(&self) -> String {
        format!("fd:{},{}", self.child_release_fd(), self.child_ready_fd())
    }

    pub fn child_release_fd(&self) -> RawFd {
        self.child_release.as_ref().map_or(-1, |fd| fd.as_raw_fd())
    }

    pub fn child_ready_fd(&self) -> RawFd {
        self.child_ready.as_ref().map_or(-1, |fd| fd.as_raw_fd())
    }

    /// Closes our copies of the probe's ends once the child holds them, so EOF means "probe gone".
    pub fn close_child_ends(&mut self) {
        self.child_release = None;
        self.child_ready = None;
    }

    /// Waits for the ready line. EOF before it means the probe (or its launcher) died.
    pub fn wait_ready(&mut self, launched_ns: u64, timeout: Duration) -> Result<Ready, Error> {
        let deadline = launched_ns + timeout.as_nanos() as u64;
        let mut line = Vec::with_capacity(128);
        loop {
            let now = monotonic_ns();
            if now >= deadline {
                return Err(Error::timeout("the probe's ready signal", timeout));
            }
            let left_ms = ((deadline - now) / 1_000_000 + 1).min(i32::MAX as u64) as i32;
            let mut fds = [PollFd::new(self.ready_read.as_fd(), PollFlags::POLLIN)];
            match poll(
                &mut fds,
                PollTimeout::try_from(left_ms).unwrap_or(PollTimeout::MAX),
            ) {
                Ok(0) => continue,
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(Error::sys("poll on the ready pipe", e)),
            }
            let mut buf = [0u8; 256];
            let n = self
                .ready_read
                .read(&mut buf)
                .map_err(|e| Error::io("read the ready pipe", e))?;
            let ready_ns = monotonic_ns();
            if n == 0 {
                return Err(Error::DiedBeforeReady(
                    "the ready pipe closed without a ready line".into(),
                ));
            }
            line.extend_from_slice(&buf[..n]);
            if line.contains(&b'\n') {
                let text = String::from_utf8_lossy(&line);
                return Ok(Ready {
                    ready_ns,
                    phases: Vec::new(),
                    report: parse_ready_report(&text),
                });
            }
        }
    }

    /// Lets the probe exit: one byte, then close.
    pub fn release(&mut self) -> Result<(), Error> {
        if let Some(fd) = self.release_write.take() {
            // EPIPE just means the probe is already gone.
            let _ = nix::unistd::write(&fd, b"x");
        }
        Ok(())
    }
}
