//! Restores into a VMM started ahead (`microvm-restore-prestarted`): each launch spawns its own
//! `isobench-vmm --restore DIR --start-fd N`, waits until the VMM has exec'd and said so (its
//! `vmm-exec` line), and only then takes the launch stamp and writes the start byte. Nothing of
//! the restore happens before that byte: the VMM has not even opened the snapshot. This is how
//! Firecracker's snapshot-load figure is measured (its process already runs when the load
//! request is timed). The VMM is never reused: one per launch, in the instance's cgroup from its
//! first instruction, so its exec and start-up are still charged to the instance's memory and
//! CPU; only startup leaves them out. The usual kill-and-reap on drop covers it from the spawn.
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::Command;
use std::time::Duration;

use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};

use super::instance::MicrovmInstance;
use crate::isolator::monotonic_ns;
use crate::Error;
use isobench_protocol::{VmmEvent, VmmPhase};

/// How long a started-ahead VMM may take to exec and say so.
const PRESTART_TIMEOUT: Duration = Duration::from_secs(10);

/// The pipe whose one byte starts the restore.
pub(super) struct StartPipe {
    /// The VMM's end (`--start-fd`); ours is closed once the VMM has its copy.
    read: Option<OwnedFd>,
    write: OwnedFd,
}

impl StartPipe {
    /// A start pipe whose read end `command` passes on as `--start-fd`. Call just before the
    /// spawn: the read end is inheritable from here on.
    pub(super) fn new(command: &mut Command) -> Result<StartPipe, Error> {
        let (read, write) =
            nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::sys("pipe2", e))?;
        fcntl(&read, FcntlArg::F_SETFD(FdFlag::empty())).map_err(|e| Error::sys("fcntl", e))?;
        command.args(["--start-fd", &read.as_raw_fd().to_string()]);
        Ok(StartPipe {
            read: Some(read),
            write,
        })
    }

    /// After the spawn: our copy of the read end goes, so that the VMM reads EOF (and exits)
    /// if the write end is dropped without a start byte.
    pub(super) fn spawned(mut self) -> StartPipe {
        self.read = None;
        self
    }
}

impl MicrovmInstance {
    /// Waits for the started-ahead VMM's `vmm-exec` line, stamps the launch, and writes the
    /// start byte. On error the caller drops the instance (the VMM is killed and reaped).
    pub(super) fn start_prestarted(&mut self, pipe: StartPipe) -> Result<(), Error> {
        let deadline = monotonic_ns() + PRESTART_TIMEOUT.as_nanos() as u64;
        let what = "the started-ahead isobench-vmm to exec";
        loop {
            match self.next_event(deadline, what)? {
                Some(VmmEvent::Phase {
                    phase: VmmPhase::VmmExec,
                    ..
                }) => break,
                Some(VmmEvent::Error { message }) => {
                    let _ = self.reap(Duration::from_secs(5));
                    return Err(Error::Engine(format!("isobench-vmm: {message}")));
                }
                Some(_) => {}
                None => return Err(self.died("isobench-vmm exited before its start byte".into())),
            }
        }
        self.launched_ns = monotonic_ns();
        std::fs::File::from(pipe.write)
            .write_all(b"s")
            .map_err(|e| Error::io("write the start byte to isobench-vmm", e))
    }
}
