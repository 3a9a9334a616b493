//! How the probe tells the harness it is ready, waits to be released, and exits.
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::FromRawFd;

// The boot timer (the guest writes 123 to port 0x3f0 and the VMM stamps the time) and the exit
// port (QEMU's isa-debug-exit, our VMM's exit device).
use isobench_protocol::{BOOT_TIMER_PORT, BOOT_TIMER_READY, EXIT_PORT};

#[derive(Debug, PartialEq, Eq)]
pub enum Channel {
    /// Release is read from `release_fd`; the ready line is written to `ready_fd`.
    Fds {
        release_fd: i32,
        ready_fd: i32,
    },
    Stdio,
    Vm,
}

impl Channel {
    pub fn parse(text: &str) -> Result<Channel, String> {
        match text {
            "stdio" => Ok(Channel::Stdio),
            "vm" => Ok(Channel::Vm),
            _ => {
                let fds = text
                    .strip_prefix("fd:")
                    .and_then(|fds| fds.split_once(','))
                    .and_then(|(r, w)| Some((r.parse().ok()?, w.parse().ok()?)));
                match fds {
                    Some((release_fd, ready_fd)) => Ok(Channel::Fds {
                        release_fd,
                        ready_fd,
                    }),
                    None => Err(format!("unknown channel {text:?}: use fd:R,W, stdio or vm")),
                }
            }
        }
    }
}

pub fn signal_ready_and_hold(channel: &Channel, line: &str) -> Result<(), String> {
    match *channel {
        Channel::Fds {
            release_fd,
            ready_fd,
        } => {
            // SAFETY: the harness passed these descriptors to us; we own them from here on.
            let mut ready = unsafe { File::from_raw_fd(ready_fd) };
            ready
                .write_all(line.as_bytes())
                .map_err(|e| format!("cannot write ready line to fd {ready_fd}: {e}"))?;
            drop(ready);
            // SAFETY: as above, the release descriptor is ours alone.
            let mut release = unsafe { File::from_raw_fd(release_fd) };
            let mut byte = [0u8; 1];
            let _ = release.read(&mut byte);
            Ok(())
        }
        Channel::Stdio => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(line.as_bytes())
                .and_then(|_| stdout.flush())
                .map_err(|e| format!("cannot write ready line to stdout: {e}"))?;
            let mut answer = String::new();
            let _ = std::io::stdin().lock().read_line(&mut answer);
            Ok(())
        }
        Channel::Vm => {
            if port_io::allow(BOOT_TIMER_PORT) {
                port_io::outb(BOOT_TIMER_PORT, BOOT_TIMER_READY);
            } else {
                eprintln!("isobench-probe: ioperm(0x3f0) refused; boot timer not stamped");
            }
            let mut stdout = std::io::stdout().lock();
            let _ = stdout
                .write_all(line.as_bytes())
                .and_then(|_| stdout.flush());
            let mut answer = String::new();
            let _ = BufReader::new(std::io::stdin().lock()).read_line(&mut answer);
            Ok(())
        }
    }
}

/// The probe's exit status after release (in a VM it never returns).
pub fn exit(channel: &Channel) -> i32 {
    if *channel == Channel::Vm {
        if port_io::allow(EXIT_PORT) {
            port_io::outb(EXIT_PORT, 0);
        }
        // A VMM that would reboot on a reset (Cloud Hypervisor) asks for an ACPI power-off.
        let power_off = std::env::var(isobench_protocol::GUEST_EXIT_ENV)
            .is_ok_and(|how| how == isobench_protocol::GUEST_EXIT_POWER_OFF);
        port_io::reboot(power_off);
    }
    0
}

/// CLOCK_BOOTTIME in nanoseconds: in a guest, the time since its kernel's clock started
/// (std has no such clock, and the probe links no libc crate).
pub fn boottime_ns() -> u64 {
    const SYS_CLOCK_GETTIME: u64 = 228;
    const CLOCK_BOOTTIME: u64 = 7;
    let mut time = [0i64; 2];
    let result: i64;
    // SAFETY: clock_gettime writes one struct timespec (two i64 on x86-64) into `time`, which
    // we own and which outlives the call.
    unsafe {
        std::arch::asm!("syscall", inlateout("rax") SYS_CLOCK_GETTIME as i64 => result,
            in("rdi") CLOCK_BOOTTIME, in("rsi") time.as_mut_ptr(),
            lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    if result != 0 {
        return 0;
    }
    time[0] as u64 * 1_000_000_000 + time[1] as u64
}

/// Raw x86-64 port I/O and reboot, std-only (no libc crate) so the probe stays a plain rustc build.
mod port_io {
    const SYS_IOPERM: u64 = 173;
    const SYS_REBOOT: u64 = 169;
    /// reboot(2)'s two magic words (LINUX_REBOOT_MAGIC1 and MAGIC2).
    const LINUX_REBOOT_MAGIC: [u64; 2] = [0xfee1_dead, 672_274_793];
    const LINUX_REBOOT_CMD_RESTART: u64 = 0x0123_4567;
    const LINUX_REBOOT_CMD_POWER_OFF: u64 = 0x4321_fedc;

    /// Asks the kernel for access to one port; true when granted.
    pub fn allow(port: u16) -> bool {
        let result: i64;
        // SAFETY: ioperm only changes this process's I/O bitmap; the arguments are plain integers.
        unsafe {
            std::arch::asm!("syscall", inlateout("rax") SYS_IOPERM as i64 => result,
                in("rdi") port as u64, in("rsi") 1u64, in("rdx") 1u64,
                lateout("rcx") _, lateout("r11") _, options(nostack));
        }
        result == 0
    }

    pub fn outb(port: u16, value: u8) {
        // SAFETY: the caller obtained access to `port` with `allow`; in a guest this exits to the VMM.
        unsafe {
            std::arch::asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack));
        }
    }

    /// Restarts the machine (under `reboot=k` the guest resets through the i8042 and the VMM
    /// ends), or powers it off (ACPI) when `power_off`.
    pub fn reboot(power_off: bool) -> ! {
        let command = match power_off {
            true => LINUX_REBOOT_CMD_POWER_OFF,
            false => LINUX_REBOOT_CMD_RESTART,
        };
        // SAFETY: reboot(2) with the documented magic numbers; as PID 1 in a guest this ends the VM.
        unsafe {
            std::arch::asm!("syscall", in("rax") SYS_REBOOT, in("rdi") LINUX_REBOOT_MAGIC[0],
                in("rsi") LINUX_REBOOT_MAGIC[1], in("rdx") command, in("r10") 0u64,
                lateout("rcx") _, lateout("r11") _, options(nostack));
        }
        // Only reached when reboot was refused (not PID 1, no CAP_SYS_BOOT).
        std::process::exit(3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_channels() {
        assert_eq!(
            Channel::parse("fd:3,4"),
            Ok(Channel::Fds {
                release_fd: 3,
                ready_fd: 4
            })
        );
        assert_eq!(Channel::parse("stdio"), Ok(Channel::Stdio));
        assert!(Channel::parse("fd:3").is_err());
    }
}
