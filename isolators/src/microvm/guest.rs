//! Guest images for VM isolators: the bare PVH guest, and a Linux kernel with an initramfs
//! whose /init is the probe. Also where the kernel is found, and the kernel command line.
use std::path::{Path, PathBuf};

use super::cpio::{self, Entry};
use crate::isolator::Workload;
use crate::probe::PROBE_BYTES;
use crate::Error;

pub use super::bare_guest::{bare_guest_elf, min_memory_mib, ready_line as bare_ready_line};
pub use super::bare_work::BareWork;

/// A guest written for one workload: the kernel image, its initramfs and command line (Linux),
/// and its RAM. Our VMM and every peer VMM boot the same one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestImage {
    pub kernel: PathBuf,
    pub initrd: Option<PathBuf>,
    pub cmdline: String,
    pub mem_mib: u32,
}

/// RAM a Linux guest needs beside what the workload holds (kernel, page cache, the initramfs).
const LINUX_BASE_MIB: u32 = 64;

impl GuestImage {
    /// Writes isobench's bare PVH guest for `work` into `scratch/bare.elf`.
    pub fn bare(work: &BareWork, mem_mib: u32, scratch: &Path) -> Result<GuestImage, Error> {
        Ok(GuestImage {
            kernel: write_file(scratch, "bare.elf", &bare_guest_elf(work))?,
            initrd: None,
            cmdline: String::new(),
            mem_mib: mem_mib.max(min_memory_mib(work)),
        })
    }

    /// `kernel` with an initramfs holding the probe as /init (written to
    /// `scratch/initramfs.cpio`) and the command line that runs `workload`. RAM is at least what
    /// the workload holds plus 64 MiB.
    pub fn linux(
        kernel: PathBuf,
        workload: &Workload,
        mem_mib: u32,
        scratch: &Path,
    ) -> Result<GuestImage, Error> {
        GuestImage::refuse_non_kernel(&kernel)?;
        let touch_mib = u32::try_from(workload.held_bytes() >> 20).unwrap_or(u32::MAX);
        let mem_mib = mem_mib.max(touch_mib.saturating_add(LINUX_BASE_MIB));
        let initramfs = linux_initramfs();
        // The kernel unpacks the archive into RAM next to itself and its copy of the archive.
        if initramfs.len() as u64 * 2 >= u64::from(mem_mib) << 20 {
            return Err(Error::BadInput(format!(
                "the initramfs ({} KiB) does not fit twice in {mem_mib} MiB of guest RAM — give the VM more with --mem-mib",
                initramfs.len() >> 10
            )));
        }
        Ok(GuestImage {
            kernel,
            initrd: Some(write_file(scratch, "initramfs.cpio", &initramfs)?),
            cmdline: linux_cmdline(workload),
            mem_mib,
        })
    }

    /// A file that is no kernel at all is refused here, in one line, before any launch.
    pub(super) fn refuse_non_kernel(kernel: &Path) -> Result<(), Error> {
        if crate::kernel::inspect(kernel)? == crate::kernel::KernelFormat::Unknown {
            return Err(Error::BadInput(format!(
                "{}: not a kernel image (neither a bzImage nor an x86-64 ELF vmlinux) — pass a bzImage or vmlinux with --kernel",
                kernel.display()
            )));
        }
        Ok(())
    }

    /// The image files (kernel, initramfs), for the disk footprint.
    pub fn files(&self) -> Vec<PathBuf> {
        std::iter::once(self.kernel.clone())
            .chain(self.initrd.clone())
            .collect()
    }
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, Error> {
    let path = dir.join(name);
    std::fs::write(&path, bytes)
        .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))?;
    Ok(path)
}

/// The kernel command line for a Linux guest running the probe as /init, tuned for boot speed.
pub fn linux_cmdline(workload: &Workload) -> String {
    [
        // The only console: the 16550 the VMM wires to the harness. The probe prints its
        // ready line here and reads its release line from here.
        "console=ttyS0",
        // Every console byte is a VM exit: print errors only (quiet alone still prints warnings).
        "quiet",
        "loglevel=3",
        // Reboot through the i8042 reset line, which every VMM here turns into "VM ended"
        // (the default, ACPI or triple fault, needs ACPI or ends in KVM_EXIT_SHUTDOWN).
        "reboot=k",
        // On a panic, reboot at once: the VM ends and the harness reports the guest's last
        // console line instead of waiting for its timeout.
        "panic=-1",
        // No i8042 probing (tens to hundreds of ms of timeouts) for a mouse or a keyboard
        // multiplexer nobody emulates; the controller is taken as it is.
        "i8042.noaux",
        "i8042.nomux",
        "i8042.nopnp",
        "i8042.dumbkbd",
        // Skip two drivers for devices isobench-vmm does not have, whose probes spin on
        // timeouts: the i8042 driver waits 0.5 s for a controller-configuration byte that never
        // comes, and rtc-cmos polls the CMOS update flag 100 times, 3 port exits each. Neither
        // is needed: `reboot=k` pulses the reset line without the driver.
        "initcall_blacklist=i8042_init,cmos_init",
        // Register ttyS0 only, not four legacy UARTs whose probing costs port exits.
        "8250.nr_uarts=1",
        // No PCI bus in isobench-vmm: skip probing config space (each access an exit).
        "pci=off",
        // No clocksource watchdog re-checking the TSC against a second clock, and no
        // check_timer() probe of the timer interrupt route: both wait for ticks at boot.
        "tsc=reliable",
        "no_timer_check",
        // Seed the CRNG from RDRAND at once (the default of most, not all, kernels), so
        // getrandom() in the probe's runtime never waits for entropy in a VM without sources.
        "random.trust_cpu=on",
        // No boot-time self-tests of every built-in crypto algorithm (a distribution kernel
        // runs them; Firecracker's 6.1 guest config has no crypto manager at all). The flag
        // exists for short-lived VMs; fips=1 would override it. In the nested guest,
        // crypto_algapi_init took 0.18-0.38 s without it and 1.9 ms with it (initcall_debug),
        // and ready came 0.1-0.3 s sooner.
        "cryptomgr.notests",
        // The probe as PID 1 (the default for an initramfs, spelled out).
        "rdinit=/init",
        // Unknown key=value words reach init's environment: the probe's channel and mode.
        "ISOBENCH_CHANNEL=vm",
    ]
    .join(" ")
        + &format!(" ISOBENCH_MODE={workload}")
}

/// An initramfs holding only the probe as /init, `dev/console` and empty mount points.
pub fn linux_initramfs() -> Vec<u8> {
    cpio::archive(&[
        Entry::dir("dev", 0o755),
        Entry::DEV_CONSOLE,
        Entry::dir("proc", 0o755),
        Entry::dir("sys", 0o755),
        Entry::dir("tmp", 0o1777),
        Entry::file("init", 0o755, PROBE_BYTES),
    ])
    .expect("constant names without NUL or TRAILER!!!, permission-only modes, a probe < 4 GiB")
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
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    KernelSearch {
        explicit: explicit.map(Path::to_path_buf),
        from_env: std::env::var_os("ISOBENCH_KERNEL").map(PathBuf::from),
        cache: cache_dir().join("kernel/vmlinuz"),
        host: PathBuf::from(format!("/boot/vmlinuz-{release}")),
    }
    .find()
}

/// The places a guest kernel may be, in the order they are tried.
struct KernelSearch {
    explicit: Option<PathBuf>,
    from_env: Option<PathBuf>,
    cache: PathBuf,
    host: PathBuf,
}

impl KernelSearch {
    fn find(&self) -> Result<PathBuf, Error> {
        if let Some(path) = &self.explicit {
            return existing(path, "--kernel");
        }
        if let Some(path) = &self.from_env {
            return existing(path, "ISOBENCH_KERNEL");
        }
        for candidate in [&self.cache, &self.host] {
            if candidate.is_file() {
                return Ok(candidate.clone());
            }
        }
        Err(Error::Unavailable(format!(
            "no guest kernel: pass --kernel, set ISOBENCH_KERNEL, or let `isobench run` fetch Debian's (looked in {} and {})",
            self.cache.display(),
            self.host.display()
        )))
    }
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
        let line = linux_cmdline(&"touch:4".parse().unwrap());
        assert!(
            line.contains("ISOBENCH_MODE=touch:4")
                && line.contains("reboot=k")
                && line.contains("console=ttyS0")
        );
    }

    #[test]
    fn kernel_search_order_and_the_missing_kernel_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, b"kernel").unwrap();
            path
        };
        let (explicit, from_env, cache, host) = (file("a"), file("b"), file("c"), file("d"));
        let missing = dir.path().join("missing");
        let search = |explicit: Option<&PathBuf>,
                      from_env: Option<&PathBuf>,
                      cache: &PathBuf,
                      host: &PathBuf| {
            KernelSearch {
                explicit: explicit.cloned(),
                from_env: from_env.cloned(),
                cache: cache.clone(),
                host: host.clone(),
            }
            .find()
        };
        assert_eq!(
            search(Some(&explicit), Some(&from_env), &cache, &host).unwrap(),
            explicit
        );
        assert_eq!(
            search(None, Some(&from_env), &cache, &host).unwrap(),
            from_env
        );
        assert_eq!(search(None, None, &cache, &host).unwrap(), cache);
        assert_eq!(search(None, None, &missing, &host).unwrap(), host);
        let error = search(None, Some(&missing), &cache, &host)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("ISOBENCH_KERNEL ") && error.contains("no such file"),
            "{error}"
        );
        let error = search(None, None, &missing, &missing).unwrap_err();
        assert!(matches!(error, Error::Unavailable(_)));
        let error = error.to_string();
        assert!(
            error.starts_with(
                "no guest kernel: pass --kernel, set ISOBENCH_KERNEL, or let `isobench run` fetch"
            ),
            "{error}"
        );
        assert!(!error.contains('\n'));
    }

    #[test]
    fn cpio_lists_the_initramfs_with_the_right_modes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("initramfs.cpio");
        std::fs::write(&path, linux_initramfs()).unwrap();
        let list = std::process::Command::new("cpio")
            .args(["-t", "-v", "--quiet", "-F"])
            .arg(&path)
            .output()
            .expect("cpio(1) is needed for this test: apt-get install cpio");
        assert!(
            list.status.success(),
            "{}",
            String::from_utf8_lossy(&list.stderr)
        );
        let text = String::from_utf8_lossy(&list.stdout);
        let entries: Vec<(&str, &str)> = text
            .lines()
            .map(|l| {
                (
                    l.split_whitespace().next().unwrap(),
                    l.split_whitespace().last().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            entries,
            [
                ("drwxr-xr-x", "dev"),
                ("crw-------", "dev/console"),
                ("drwxr-xr-x", "proc"),
                ("drwxr-xr-x", "sys"),
                ("drwxrwxrwt", "tmp"),
                ("-rwxr-xr-x", "init"),
            ],
            "{text}"
        );
        let console: Vec<&str> = text.lines().nth(1).unwrap().split_whitespace().collect();
        assert_eq!(
            (console[4], console[5]),
            ("5,", "1"),
            "dev/console is char 5,1: {text}"
        );
        let extract = std::process::Command::new("cpio")
            .args(["-i", "--quiet", "--no-absolute-filenames", "-F"])
            .arg(&path)
            .arg("init")
            .current_dir(dir.path())
            .status()
            .unwrap();
        assert!(extract.success());
        assert_eq!(std::fs::read(dir.path().join("init")).unwrap(), PROBE_BYTES);
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
