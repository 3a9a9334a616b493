//! One VMM process running a guest with its serial console on stdio: ready from the console,
//! guest RAM found by size in the VMM's mappings, and how each VMM ends when the guest asks to.
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::sys::wait::WaitStatus;

use crate::external::spawned::Spawned;
use crate::isolator::{Instance, Ready};
use crate::resources::{GuestRam, Resources};
use crate::Error;

/// How a VMM ends once the bare guest is released (it writes port 0xf4, then resets via i8042).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestExit {
    /// QEMU's isa-debug-exit: exit status (value << 1) | 1, so 1 is the normal end.
    DebugExitPort,
    /// The VMM exits 0 when the guest ends: on its i8042 reset (Firecracker), or on its ACPI
    /// power-off (Cloud Hypervisor with the Linux guest).
    ExitsOnReset,
    /// The VMM reboots the guest on reset (Cloud Hypervisor): when the guest's ready line
    /// appears a second time, the guest has finished, and we stop the VMM with SIGTERM.
    RebootsOnReset,
}

/// One VMM process running the bare guest with its serial console on stdio.
pub struct VmInstance {
    spawned: Spawned,
    phase: String,
    mem_mib: u32,
    exit: GuestExit,
    guest_ram: OnceLock<Option<(u64, u64)>>,
}

impl VmInstance {
    pub fn new(spawned: Spawned, phase: String, mem_mib: u32, exit: GuestExit) -> Self {
        VmInstance {
            spawned,
            phase,
            mem_mib,
            exit,
            guest_ram: OnceLock::new(),
        }
    }

    /// The VMM's anonymous mapping of exactly the guest's RAM size: (start, length).
    fn guest_ram(&self) -> Option<(u64, u64)> {
        *self.guest_ram.get_or_init(|| {
            let smaps =
                std::fs::read_to_string(format!("/proc/{}/smaps", self.spawned.pid)).ok()?;
            find_mapping_of_size(&smaps, u64::from(self.mem_mib) << 20)
        })
    }

    fn wait_reboot_then_stop(&mut self, timeout: Duration) -> Result<WaitStatus, Error> {
        let started = Instant::now();
        loop {
            if self.spawned.try_reap()?.is_some() {
                // Reaped: this checks the rest is gone and removes the measuring cgroup.
                return self
                    .spawned
                    .wait_gone(timeout.saturating_sub(started.elapsed()));
            }
            let (ready_lines, eof) = self.spawned.ready_lines_now(2);
            if ready_lines >= 2 || eof {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(self.spawned.pid),
                    nix::sys::signal::Signal::SIGTERM,
                );
                let left = timeout.saturating_sub(started.elapsed());
                return self.spawned.wait_gone(left);
            }
            if started.elapsed() >= timeout {
                return Err(Error::timeout("the guest to finish (reset)", timeout));
            }
        }
    }
}

/// Finds the first anonymous mapping of exactly `bytes` in an smaps text.
pub fn find_mapping_of_size(smaps: &str, bytes: u64) -> Option<(u64, u64)> {
    smaps.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        let (start, end) = words.next()?.split_once('-')?;
        let (start, end) = (
            u64::from_str_radix(start, 16).ok()?,
            u64::from_str_radix(end, 16).ok()?,
        );
        // address perms offset dev inode [path]: anonymous means no path.
        let anonymous = words.nth(4).is_none();
        (anonymous && end - start == bytes).then_some((start, bytes))
    })
}

impl Instance for VmInstance {
    fn launched_ns(&self) -> u64 {
        self.spawned.launched_ns
    }
    fn wait_ready(&mut self, timeout: Duration) -> Result<Ready, Error> {
        let ready = self.spawned.wait_ready_phase(timeout, &self.phase)?;
        Ok(ready.with_guest_boot_phases(self.spawned.launched_ns))
    }
    fn resources(&self) -> Resources {
        Resources {
            pids: self.spawned.processes(),
            guest_ram: self
                .guest_ram()
                .map(|(start, len)| GuestRam {
                    pid: self.spawned.pid,
                    start,
                    len,
                })
                .into_iter()
                .collect(),
            cgroup: self.spawned.measuring_cgroup(),
            ..Default::default()
        }
    }
    fn cpu_ns(&self) -> Option<u64> {
        self.spawned.cpu_ns()
    }
    fn release(&mut self) -> Result<(), Error> {
        self.spawned.release();
        Ok(())
    }
    fn wait_gone(&mut self, timeout: Duration) -> Result<(), Error> {
        let status = match self.exit {
            GuestExit::RebootsOnReset => self.wait_reboot_then_stop(timeout)?,
            _ => self.spawned.wait_gone(timeout)?,
        };
        let normal = match (self.exit, status) {
            (GuestExit::DebugExitPort, WaitStatus::Exited(_, 1)) => true,
            (GuestExit::ExitsOnReset, WaitStatus::Exited(_, 0)) => true,
            (GuestExit::RebootsOnReset, WaitStatus::Exited(_, 0)) => true,
            (GuestExit::RebootsOnReset, WaitStatus::Signaled(_, sig, _)) => {
                sig == nix::sys::signal::Signal::SIGTERM
            }
            _ => false,
        };
        if normal {
            Ok(())
        } else {
            Err(Error::Engine(format!(
                "the VMM ended with {status:?}; stderr: {:?}",
                self.spawned.stderr_tail()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_guest_ram_by_size() {
        let smaps = "\
55d000000000-55d000100000 r-xp 00000000 08:01 42 /usr/bin/qemu-system-x86_64
Size:               1024 kB
7f0000000000-7f0008000000 rw-p 00000000 00:00 0 
Size:             131072 kB
";
        assert_eq!(
            find_mapping_of_size(smaps, 128 << 20),
            Some((0x7f00_0000_0000, 128 << 20))
        );
        assert_eq!(find_mapping_of_size(smaps, 64 << 20), None);
    }
}
