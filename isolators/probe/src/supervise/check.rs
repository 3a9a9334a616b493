//! Readiness: polls the check (`tcp:` connect on loopback, `file:` exists) at 1 ms, backing
//! off to 10 ms, and wakes at once on the events the other threads send (a `log:` line
//! matched, the command ended, which `exit:CODE` waits for), until `ready_timeout_ms`.
use std::net::{Ipv4Addr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use isobench_protocol::ReadyCheck;

use super::sys::Ended;
use super::Supervised;

/// The first interval between two polls of a `tcp:` or `file:` check.
const FIRST_POLL: Duration = Duration::from_millis(1);
/// The longest interval between two polls.
const LAST_POLL: Duration = Duration::from_millis(10);

/// The check passed: when (from the command's start) and, for `exit:`, with which status.
#[derive(Debug)]
pub struct Ready {
    pub work_ns: u128,
    pub exit_code: Option<i32>,
}

/// Why the command never became ready.
#[derive(Debug, PartialEq, Eq)]
pub enum NotReady {
    /// It ended first (for `exit:CODE`, with another status than CODE).
    Ended(Ended),
    /// The check did not pass within the timeout.
    TimedOut,
}

/// Waits until `check` passes, the command ends first, or `timeout` (from its start) passes.
pub fn wait_ready(
    supervised: &mut Supervised,
    check: &ReadyCheck,
    timeout: Duration,
) -> Result<Ready, NotReady> {
    let deadline = supervised.started + timeout;
    let started = supervised.started;
    let ready_at = |at: Instant, exit_code| Ready {
        work_ns: at.duration_since(started).as_nanos(),
        exit_code,
    };
    let mut interval = FIRST_POLL;
    loop {
        match check {
            ReadyCheck::Tcp { port } => {
                if TcpStream::connect((Ipv4Addr::LOCALHOST, *port)).is_ok() {
                    return Ok(ready_at(Instant::now(), None));
                }
            }
            ReadyCheck::File { path } => {
                if Path::new(path).exists() {
                    return Ok(ready_at(Instant::now(), None));
                }
            }
            ReadyCheck::Log { .. } => {
                if let Some(at) = supervised.log_matched {
                    return Ok(ready_at(at, None));
                }
            }
            ReadyCheck::Exit { code } => {
                if let Some((at, Ended::Exited(status))) = supervised.ended {
                    if status == *code {
                        return Ok(ready_at(at, Some(status)));
                    }
                }
            }
        }
        if let Some((_, ended)) = supervised.ended {
            return Err(NotReady::Ended(ended));
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(NotReady::TimedOut);
        }
        if !supervised.next_event(interval.min(deadline - now)) {
            interval = (interval * 3 / 2).min(LAST_POLL);
        }
    }
}
