//! Reading `isobench-vmm`'s report pipe: `phase`, `guest-ram`, `ready`, `exit` and `error` lines.
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

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

/// What [`LineReader::next_line`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Line(String),
    /// Every writer closed the pipe.
    Eof,
    /// The watched process ended and everything it wrote has been read.
    WriterExited,
}

/// Line-by-line reader with a deadline over a pipe, that also watches the writer's pidfd: a
/// copy of the pipe's write end leaked into another child (a concurrent spawn elsewhere in
/// the harness) must not make us wait for an EOF that never comes.
pub struct LineReader {
    file: std::fs::File,
    buffer: Vec<u8>,
    eof: bool,
    writer_exited: bool,
}

impl LineReader {
    pub fn new(fd: OwnedFd) -> LineReader {
        LineReader {
            file: std::fs::File::from(fd),
            buffer: Vec::new(),
            eof: false,
            writer_exited: false,
        }
    }

    /// The next complete line, EOF, or the writer's exit (`writer` is its pidfd). Errors with
    /// Timeout after `deadline_ns`.
    pub fn next_line(
        &mut self,
        deadline_ns: u64,
        writer: BorrowedFd,
        what: &str,
    ) -> Result<Next, Error> {
        loop {
            if let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                return Ok(Next::Line(
                    String::from_utf8_lossy(&line[..end]).into_owned(),
                ));
            }
            if self.eof {
                return Ok(Next::Eof);
            }
            if self.writer_exited {
                return Ok(Next::WriterExited);
            }
            let now = monotonic_ns();
            if now >= deadline_ns {
                return Err(Error::timeout(what, std::time::Duration::ZERO));
            }
            let ms = ((deadline_ns - now) / 1_000_000 + 1).min(i32::MAX as u64) as i32;
            let mut fds = [
                PollFd::new(self.file.as_fd(), PollFlags::POLLIN),
                PollFd::new(writer, PollFlags::POLLIN),
            ];
            match poll(
                &mut fds,
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
            ) {
                Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
                Ok(_) => {}
                Err(e) => return Err(Error::sys(format!("poll while waiting for {what}"), e)),
            }
            let readable = fds[0].revents().is_some_and(|r| !r.is_empty());
            let exited = fds[1].revents().is_some_and(|r| !r.is_empty());
            if readable {
                self.read_chunk(what)?;
            } else if exited {
                // It wrote every line with one write(2) before exiting: all of it is in the
                // pipe now. Take what is there without blocking, then report the exit.
                let mut now_fds = [PollFd::new(self.file.as_fd(), PollFlags::POLLIN)];
                match poll(&mut now_fds, PollTimeout::ZERO) {
                    Ok(n) if n > 0 => self.read_chunk(what)?,
                    _ => self.writer_exited = true,
                }
            }
        }
    }

    fn read_chunk(&mut self, what: &str) -> Result<(), Error> {
        let mut chunk = [0u8; 4096];
        match self.file.read(&mut chunk) {
            Ok(0) => self.eof = true,
            Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(format!("read while waiting for {what}"), e)),
        }
        Ok(())
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

    #[test]
    fn a_leaked_write_end_does_not_hide_the_writers_exit() {
        use std::io::Write;
        let (read, write) = nix::unistd::pipe().unwrap();
        let mut reader = LineReader::new(read);
        // We keep the write end open (as a leaked copy in another child would), write two lines,
        // and watch a child that exits at once: no EOF will ever come.
        let mut writer = std::fs::File::from(write);
        writer.write_all(b"ready 1\nexit exit-port\n").unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pidfd = crate::reap::pidfd_open(child.id() as i32).unwrap();
        let deadline = monotonic_ns() + 10_000_000_000;
        let mut next = || reader.next_line(deadline, pidfd.as_fd(), "test").unwrap();
        assert_eq!(next(), Next::Line("ready 1".into()));
        assert_eq!(next(), Next::Line("exit exit-port".into()));
        assert_eq!(next(), Next::WriterExited);
        child.wait().unwrap();
        drop(writer);
    }

    #[test]
    fn times_out_at_the_deadline() {
        let (read, _write) = nix::unistd::pipe().unwrap();
        let mut reader = LineReader::new(read);
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let pidfd = crate::reap::pidfd_open(child.id() as i32).unwrap();
        let started = std::time::Instant::now();
        let result = reader.next_line(monotonic_ns() + 100_000_000, pidfd.as_fd(), "test");
        assert!(matches!(result, Err(Error::Timeout { .. })), "{result:?}");
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
