//! The ready channel of an engine command: inherited pipes the probe answers on, or the probe's
//! ready line on the engine's stdout (or a serial console on it) with a newline on stdin as
//! the release.
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::process::ChildStdout;
use std::time::Duration;

use isobench_protocol::READY_MARKER;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::fdchannel::FdChannel;
use crate::isolator::{monotonic_ns, parse_ready_report, Ready};
use crate::Error;

/// How the probe tells us it is ready, and how we let it go.
pub enum Channel {
    /// The probe's `--channel fd:R,W` over pipes the engine passes through.
    Fd(FdChannel),
    /// The probe's ready line on the engine's stdout (or a serial console on it); release is a
    /// newline on stdin.
    Stdio(StdioChannel),
}

/// Reads lines from an engine's stdout until the ready line.
pub struct StdioChannel {
    stdout: ChildStdout,
    /// Our end of the engine's stdin: a pipe, or the master of its terminal.
    stdin: Option<std::fs::File>,
    released: bool,
    seen: Vec<u8>,
}

impl StdioChannel {
    pub(super) fn wait_ready(
        &mut self,
        launched_ns: u64,
        timeout: Duration,
    ) -> Result<Ready, Error> {
        let deadline = launched_ns + timeout.as_nanos() as u64;
        loop {
            if let Some(ready) = self.ready_line() {
                return Ok(ready);
            }
            let now = monotonic_ns();
            if now >= deadline {
                let what = match last_line(&self.seen) {
                    Some(line) => format!("the probe's ready line (last output: {line:?})"),
                    None => "the probe's ready line (no output at all)".to_string(),
                };
                return Err(Error::timeout(what, timeout));
            }
            let left_ms = ((deadline - now) / 1_000_000 + 1).min(i32::MAX as u64) as i32;
            let mut fds = [PollFd::new(self.stdout.as_fd(), PollFlags::POLLIN)];
            match poll(
                &mut fds,
                PollTimeout::try_from(left_ms).unwrap_or(PollTimeout::MAX),
            ) {
                Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
                Ok(_) => {}
                Err(e) => return Err(Error::sys("poll on the engine's stdout", e)),
            }
            let mut buf = [0u8; 4096];
            let n = self
                .stdout
                .read(&mut buf)
                .map_err(|e| Error::io("read the engine's stdout", e))?;
            if n == 0 {
                let said = String::from_utf8_lossy(&self.seen).trim().to_string();
                return Err(Error::DiedBeforeReady(format!(
                    "stdout closed without a ready line (it said {said:?})"
                )));
            }
            self.seen.extend_from_slice(&buf[..n]);
        }
    }

    /// The first complete line holding the marker, stamped now.
    fn ready_line(&mut self) -> Option<Ready> {
        let text = String::from_utf8_lossy(&self.seen);
        let at = text.find(READY_MARKER)?;
        let line = text[at..].split_once('\n')?.0.trim_end_matches('\r');
        let ready = Ready {
            ready_ns: monotonic_ns(),
            phases: Vec::new(),
            report: parse_ready_report(line),
        };
        Some(ready)
    }

    /// Reads what stdout has within `wait_ms`; returns how many ready lines it held so far, and
    /// whether stdout reached EOF.
    pub(super) fn ready_lines_now(&mut self, wait_ms: i32) -> (usize, bool) {
        let mut fds = [PollFd::new(self.stdout.as_fd(), PollFlags::POLLIN)];
        let mut eof = false;
        let readable = poll(
            &mut fds,
            PollTimeout::try_from(wait_ms).unwrap_or(PollTimeout::ZERO),
        )
        .is_ok_and(|n| n > 0);
        if readable {
            let mut buf = [0u8; 4096];
            match self.stdout.read(&mut buf) {
                Ok(0) | Err(_) => eof = true,
                Ok(n) => self.seen.extend_from_slice(&buf[..n]),
            }
        }
        let text = String::from_utf8_lossy(&self.seen);
        (text.matches(READY_MARKER).count(), eof)
    }

    /// Writes the release newline once. Our end stays open until the instance is dropped: a
    /// terminal whose master closes hangs up, and Cloud Hypervisor then idles its serial
    /// thread for 500 ms per EOF before it can stop (a full second added to teardown).
    pub(super) fn release(&mut self) {
        if self.released {
            return;
        }
        self.released = true;
        if let Some(stdin) = self.stdin.as_mut() {
            // EPIPE just means the probe is already gone.
            let _ = stdin.write_all(b"\n");
        }
    }
}

/// The last non-empty line of what an engine printed, cut to 160 characters.
pub(super) fn last_line(seen: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(seen);
    let line = text.lines().map(str::trim).rfind(|l| !l.is_empty())?;
    Some(line.chars().take(160).collect())
}

impl StdioChannel {
    /// Reads `stdout`; `stdin` is our end of the engine's stdin (a pipe, or a terminal master).
    pub(super) fn new(stdout: ChildStdout, stdin: Option<std::fs::File>) -> StdioChannel {
        StdioChannel {
            stdout,
            stdin,
            released: false,
            seen: Vec::new(),
        }
    }
}
