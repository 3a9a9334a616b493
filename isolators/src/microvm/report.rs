//! Reading `isobench-vmm`'s report pipe: `phase`, `guest-ram`, `ready`, `exit` and `error` lines.
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::isolator::monotonic_ns;
use crate::Error;

/// One line from the VMM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `phase <name> <monotonic ns>`
    Phase { name: String, at_ns: u64 },
    /// `guest-ram <host start, hex> <length>`
    GuestRam { start: u64, len: u64 },
    /// `ready <monotonic ns>`: the guest wrote 123 to port 0x3f0.
    Ready { at_ns: u64 },
    /// `exit <reason>`
    Exit { reason: String },
    /// `error <message>`
    Error { message: String },
}

impl Event {
    pub fn parse(line: &str) -> Option<Event> {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        let mut fields = rest.split_whitespace();
        Some(match word {
            "phase" => Event::Phase {
                name: fields.next()?.to_string(),
                at_ns: fields.next()?.parse().ok()?,
            },
            "guest-ram" => Event::GuestRam {
                start: u64::from_str_radix(fields.next()?, 16).ok()?,
                len: fields.next()?.parse().ok()?,
            },
            "ready" => Event::Ready {
                at_ns: fields.next()?.parse().ok()?,
            },
            "exit" => Event::Exit {
                reason: rest.trim().to_string(),
            },
            "error" => Event::Error {
                message: rest.trim().to_string(),
            },
            _ => return None,
        })
    }
}

/// Line-by-line reader with a deadline, over a pipe.
pub struct LineReader {
    file: std::fs::File,
    buffer: Vec<u8>,
    eof: bool,
}

impl LineReader {
    pub fn new(fd: OwnedFd) -> LineReader {
        LineReader {
            file: std::fs::File::from(fd),
            buffer: Vec::new(),
            eof: false,
        }
    }

    /// The next complete line, or None at EOF. Errors with Timeout after `deadline_ns`.
    pub fn next_line(&mut self, deadline_ns: u64, what: &str) -> Result<Option<String>, Error> {
        loop {
            if let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                return Ok(Some(String::from_utf8_lossy(&line[..end]).into_owned()));
            }
            if self.eof {
                return Ok(None);
            }
            let now = monotonic_ns();
            if now >= deadline_ns {
                return Err(Error::timeout(
                    what,
                    std::time::Duration::from_nanos(deadline_ns.saturating_sub(now)),
                ));
            }
            let ms = ((deadline_ns - now) / 1_000_000 + 1).min(i32::MAX as u64) as i32;
            let mut fds = [PollFd::new(self.file.as_fd(), PollFlags::POLLIN)];
            match poll(
                &mut fds,
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
            ) {
                Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
                Ok(_) => {}
                Err(e) => return Err(Error::sys(format!("poll while waiting for {what}"), e)),
            }
            let mut chunk = [0u8; 4096];
            match self.file.read(&mut chunk) {
                Ok(0) => self.eof = true,
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io(format!("read while waiting for {what}"), e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_event() {
        assert_eq!(
            Event::parse("phase kvm-create 1234"),
            Some(Event::Phase {
                name: "kvm-create".into(),
                at_ns: 1234
            })
        );
        assert_eq!(
            Event::parse("guest-ram 7f00a0000000 134217728"),
            Some(Event::GuestRam {
                start: 0x7f00_a000_0000,
                len: 134_217_728
            })
        );
        assert_eq!(Event::parse("ready 99"), Some(Event::Ready { at_ns: 99 }));
        assert_eq!(
            Event::parse("exit exit-port"),
            Some(Event::Exit {
                reason: "exit-port".into()
            })
        );
        assert_eq!(
            Event::parse("error kernel /x: no such file"),
            Some(Event::Error {
                message: "kernel /x: no such file".into()
            })
        );
        assert_eq!(Event::parse("ready soon"), None);
        assert_eq!(Event::parse("hello"), None);
    }
}
