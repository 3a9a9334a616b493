//! The report pipe to the harness: one [`VmmEvent`] line per event, each in a single write(2),
//! except while lines are held (see [`Reporter::hold`]).
use std::fs::File;
use std::io::Write;
use std::os::fd::FromRawFd;

use crate::error::{Error, Result};
use isobench_protocol::{VmmEvent, VmmPhase};

/// CLOCK_MONOTONIC in nanoseconds, the harness's clock.
pub fn monotonic_ns() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

/// Writes report lines to an inherited descriptor, or nowhere.
#[derive(Default)]
pub struct Reporter {
    out: Option<File>,
    /// Lines not written yet, while held.
    held: Vec<u8>,
    holding: bool,
}

impl Reporter {
    /// Takes ownership of `fd` (from `--report-fd`), which must be open.
    pub fn from_fd(fd: i32) -> Result<Reporter> {
        // SAFETY: F_GETFD only reads the descriptor's flags; any integer is safe to ask about.
        if fd < 0 || unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
            return Err(Error::Usage(format!(
                "--report-fd {fd}: not an open descriptor — pass a pipe the VMM inherits"
            )));
        }
        // SAFETY: the descriptor is open (checked above) and the harness passed it to us for
        // exactly this purpose; nothing else in this process owns it.
        let out = unsafe { File::from_raw_fd(fd) };
        Ok(Reporter {
            out: Some(out),
            held: Vec::new(),
            holding: false,
        })
    }

    /// Holds the lines that follow until [`Reporter::release`] (or the reporter is dropped),
    /// then writes them at once. Every line carries its own stamp, so holding changes no
    /// figure; it takes a write(2) per phase, and the wake-up of the harness reading the pipe,
    /// off the launch→ready path (on a 2-core host that harness thread competes with the
    /// VMM for a core). The VMM holds lines from `main` to the guest's ready point.
    pub fn hold(&mut self) {
        self.holding = true;
    }

    /// Writes the held lines, and from now on each line as it comes.
    pub fn release(&mut self) {
        self.holding = false;
        if let Some(out) = self.out.as_mut() {
            if !self.held.is_empty() {
                // A vanished harness must not stop the VM; its Drop kills us anyway.
                let _ = out.write_all(&self.held);
            }
        }
        self.held.clear();
    }

    /// One event, as `VmmEvent`'s `Display` spells it, and a newline.
    pub fn event(&mut self, event: &VmmEvent) {
        let line = format!("{event}\n");
        if self.holding {
            self.held.extend_from_slice(line.as_bytes());
        } else if let Some(out) = self.out.as_mut() {
            // A vanished harness must not stop the VM; its Drop kills us anyway.
            let _ = out.write_all(line.as_bytes());
        }
    }

    /// The phase, stamped now.
    pub fn phase(&mut self, phase: VmmPhase) {
        self.phase_at(phase, monotonic_ns());
    }

    /// The phase, stamped `at_ns` (it ended earlier, or on another thread).
    pub fn phase_at(&mut self, phase: VmmPhase, at_ns: u64) {
        self.event(&VmmEvent::Phase { phase, at_ns });
    }
}

impl Drop for Reporter {
    /// Lines still held (an error before ready) are written on the way out.
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// A report pipe: our reporter on its write end, the read end non-blocking.
    fn pipe() -> (Reporter, File) {
        let mut fds = [0; 2];
        // SAFETY: pipe2 writes two new descriptors into the array we own.
        let made = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) };
        assert_eq!(made, 0);
        // SAFETY: the read end was just created and nothing else owns it.
        let read = unsafe { File::from_raw_fd(fds[0]) };
        (Reporter::from_fd(fds[1]).unwrap(), read)
    }

    fn available(read: &mut File) -> String {
        let mut text = String::new();
        let _ = read.read_to_string(&mut text);
        text
    }

    #[test]
    fn held_lines_are_written_in_order_on_release_or_drop() {
        let (mut report, mut read) = pipe();
        report.hold();
        report.phase_at(VmmPhase::VmmExec, 1);
        report.event(&VmmEvent::Ready { at_ns: 2 });
        assert_eq!(available(&mut read), "", "nothing written while held");
        report.release();
        assert_eq!(available(&mut read), "phase vmm-exec 1\nready 2\n");
        report.phase_at(VmmPhase::Snapshot, 3);
        assert_eq!(
            available(&mut read),
            "phase snapshot 3\n",
            "written at once"
        );
        report.hold();
        report.event(&VmmEvent::Error {
            message: "gone".into(),
        });
        drop(report);
        assert_eq!(
            available(&mut read),
            "error gone\n",
            "a drop writes what was held"
        );
    }
}
