//! Guest images for VM isolators: the bare PVH guest, and a Linux kernel with an initramfs
//! whose /init is the probe. Also where the kernel is found, and the kernel command line.
use std::path::{Path, PathBuf};

use super::cpio::{self, Entry};
use crate::probe::{Workload, PROBE_BYTES};
use crate::Error;

pub use super::bare_guest::{bare_guest_elf, min_memory_mib, READY_LINE as BARE_READY_LINE};

/// The kernel command line for a Linux guest running the probe as /init, tuned for boot speed.
pub fn linux_cmdline(workload: &Workload) -> String {
    [
        // The only console: the 16550 the VMM wires to the harness.
        "console=ttyS0",
        // Kernel messages cost serial exits: print only errors.
        "quiet",
        "loglevel=3",
        // Reboot through the i8042 reset line, which every VMM here turns into "VM ended".
        "reboot=k",
        // On a panic, reboot at once instead of hanging the benchmark.
        "panic=-1",
        // No i8042 probing delays (tens to hundreds of ms) for a keyboard nobody has.
        "i8042.noaux",
        "i8042.nomux",
        "i8042.nopnp",
        "i8042.dumbkbd",
        // One UART to register, not four.
        "8250.nr_uarts=1",
        // No PCI bus to scan on a microVM.
        "pci=off",
        // Trust the TSC: skip the clocksource watchdog and timer checks.
        "tsc=reliable",
        "no_timer_check",
        // Seed the RNG from the CPU instead of waiting for entropy.
        "random.trust_cpu=on",
        // Nothing to load: the initramfs is all there is.
        "nomodule",
        // The probe as PID 1, and its mode and channel (passed to init's environment).
        "rdinit=/init",
        "ISOBENCH_CHANNEL=vm",
    ]
    .join(" ")
        + &format!(" ISOBENCH_MODE={}", workload.mode)
}

/// An initramfs holding only the probe as /init, `dev/console` and empty mount points.
pub fn linux_initramfs() -> Vec<u8> {
    cpio::archive(&[
        Entry::Directory {
            path: "dev",
            mode: 0o755,
        },
        Entry::CharDevice {
            path: "dev/console",
            mode: 0o600,
            major: 5,
            minor: 1,
        },
        Entry::Directory {
            path: "proc",
            mode: 0o755,
        },
        Entry::Directory {
            path: "sys",
            mode: 0o755,
        },
        Entry::Directory {
            path: "tmp",
            mode: 0o1777,
        },
        Entry::File {
            path: "init",
            mode: 0o755,
            data: PROBE_BYTES,
        },
    ])
}

/// The isobench cache directory: `$ISOBENCH_CACHE`, else `~/.cache/isobench`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ISOBENCH_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".cache/isobench")
}

/// Finds the guest kernel: `explicit` (--kernel), then `ISOBENCH_KERNEL`, then the cache
/// filled by scripts/fetch-guest-kernel.sh, then the host's /boot/vmlinuz-$(uname -r).
pub fn find_kernel(explicit: Option<&Path>) -> Result<PathBuf, Error> {
    if let Some(path) = explicit {
        return existing(path, "--kernel");
    }
    if let Some(path) = std::env::var_os("ISOBENCH_KERNEL") {
        return existing(Path::new(&path), "ISOBENCH_KERNEL");
    }
    let cached = cache_dir().join("kernel/vmlinuz");
    if cached.is_file() {
        return Ok(cached);
    }
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let host = PathBuf::from(format!("/boot/vmlinuz-{release}"));
    if host.is_file() {
        return Ok(host);
    }
    Err(Error::Unavailable(format!(
        "no guest kernel: pass --kernel, set ISOBENCH_KERNEL, or run scripts/fetch-guest-kernel.sh (looked in {} and {})",
        cached.display(),
        host.display()
    )))
}

fn existing(path: &Path, source: &str) -> Result<PathBuf, Error> {
    if path.is_file() {
        Ok(path.to_path_buf())
    } else {
        Err(Error::BadInput(format!(
            "{source} {}: no such file — pass the path of a bzImage or vmlinux",
            path.display()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initramfs_has_init_and_console() {
        let archive = linux_initramfs();
        assert!(archive.windows(11).any(|w| w == b"dev/console"));
        assert!(archive
            .windows(PROBE_BYTES.len().min(64))
            .any(|w| w == &PROBE_BYTES[..64]));
    }

    #[test]
    fn cmdline_carries_the_workload_and_fast_boot_flags() {
        let line = linux_cmdline(&Workload::parse("touch:4").unwrap());
        assert!(
            line.contains("ISOBENCH_MODE=touch:4")
                && line.contains("reboot=k")
                && line.contains("console=ttyS0")
        );
    }

    #[test]
    fn missing_explicit_kernel_is_one_clear_line() {
        let error = find_kernel(Some(Path::new("/nonexistent/vmlinuz")))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("--kernel /nonexistent/vmlinuz: no such file"),
            "{error}"
        );
        assert!(!error.contains('\n'));
    }
}
