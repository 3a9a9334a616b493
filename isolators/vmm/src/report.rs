//! The report pipe to the harness: one [`VmmEvent`] line per event, each in a single write(2).
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
        Ok(Reporter { out: Some(out) })
    }

    /// One event, as `VmmEvent`'s `Display` spells it, and a newline.
    pub fn event(&mut self, event: &VmmEvent) {
        if let Some(out) = self.out.as_mut() {
            // A vanished harness must not stop the VM; its Drop kills us anyway.
            let _ = out.write_all(format!("{event}\n").as_bytes());
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
