//! Reading `isobench-vmm`'s report pipe line by line, with a deadline and an eye on the writer's
//! exit; each line is an `isobench_protocol::VmmEvent`, parsed by its `FromStr`.
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::isolator::monotonic_ns;
use crate::Error;

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
