//! What one VM looks like, from the command line.
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::memory::HugePages;
use isobench_protocol::{DEFAULT_GUEST_MEM_MIB, MAX_GUEST_MEM_MIB};

pub const USAGE: &str = "usage: isobench-vmm --kernel PATH [--initrd PATH] [--cmdline STRING] [--mem-mib N] [--huge-pages auto|on|off] [--report-fd FD] [--no-pit] [--split-irqchip] [--snapshot DIR]
       isobench-vmm --restore DIR [--mem-mib N] [--report-fd FD] [--verify-memory] [--start-fd FD]

Boots one VM with one vCPU on /dev/kvm. The kernel may be a PVH ELF, an ELF vmlinux or a
bzImage. Guest serial output goes to stdout; stdin feeds the guest's serial input. With
--report-fd, phase timestamps (CLOCK_MONOTONIC ns), guest RAM ranges, the boot-timer stamp
(guest writes 123 to port 0x3f0) and the exit reason are written there, one per line.
--huge-pages: back guest RAM with transparent huge pages (auto: when the kernel file is
2 MiB or more, i.e. a guest OS).
--no-pit leaves out the i8254 timer, for a guest that programs no legacy timer: KVM runs each
PIT on a kernel worker thread whose stop holds up the VMM's exit by milliseconds.
--split-irqchip (with --no-pit): only the local APIC in KVM; the VMM models the I/O APIC
(edge-triggered pins) and there is no PIC. The VM then ends without waiting for the SRCU grace
period that KVM's in-kernel PIC and I/O APIC start when they are made.
--snapshot DIR: when the guest signals ready, write its memory (DIR/memory) and VM state
(DIR/vm.state) there, then let it run on. The state keeps the irqchip as it was (KVM's, or
the split one with the VMM's I/O APIC), and a restore makes the same kind.
--restore DIR: map DIR/memory copy-on-write as guest RAM, set DIR/vm.state and resume the
guest; `ready` is its first port or MMIO access. --mem-mib, if given, must match the
snapshot's; --verify-memory checksums guest RAM before the guest runs.
--start-fd FD (with --restore): start ahead, then wait for one byte on FD before anything
of the restore is done (the snapshot is not even opened): the caller times the restore
from that byte, as Firecracker's snapshot load is timed in an already running process.";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmConfig {
    pub kernel: PathBuf,
    pub initrd: Option<PathBuf>,
    pub cmdline: String,
    pub mem_mib: u32,
    pub huge_pages: HugePages,
    pub report_fd: Option<i32>,
    /// Whether the VM gets an in-kernel i8254 PIT (Linux guests calibrate against it).
    pub pit: bool,
    /// Local APIC in KVM, I/O APIC in the VMM (`devices::ioapic`), no PIC.
    pub split_irqchip: bool,
    /// Where to write a snapshot when the guest signals ready.
    pub snapshot_to: Option<PathBuf>,
}

/// A VM restored from a snapshot directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreConfig {
    pub dir: PathBuf,
    /// The guest memory size the caller expects; refused when the snapshot's differs.
    pub mem_mib: Option<u32>,
    pub report_fd: Option<i32>,
    /// Checksum the mapped guest RAM against the snapshot's before resuming.
    pub verify_memory: bool,
    /// Wait for one byte on this descriptor before restoring (`--start-fd`).
    pub start_fd: Option<i32>,
}

/// What the command line asked for.
pub enum Command {
    Run(VmConfig),
    Restore(RestoreConfig),
    Help,
}

impl VmConfig {
    pub fn mem_bytes(&self) -> u64 {
        u64::from(self.mem_mib) << 20
    }
}

pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command> {
    let mut kernel = None;
    let mut config = VmConfig {
        kernel: PathBuf::new(),
        initrd: None,
        cmdline: String::new(),
        mem_mib: DEFAULT_GUEST_MEM_MIB,
        huge_pages: HugePages::Auto,
        report_fd: None,
        pit: true,
        split_irqchip: false,
        snapshot_to: None,
    };
    let mut restore_dir = None;
    let mut mem_mib_given = false;
    let mut verify_memory = false;
    let mut start_fd = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| Error::Usage(format!("{name} needs a value")))
        };
        match arg.as_str() {
            "--kernel" => kernel = Some(PathBuf::from(value("--kernel")?)),
            "--initrd" => config.initrd = Some(PathBuf::from(value("--initrd")?)),
            "--cmdline" => config.cmdline = value("--cmdline")?,
            "--mem-mib" => {
                let text = value("--mem-mib")?;
                config.mem_mib = text
                    .parse()
                    .ok()
                    .filter(|&m| (2..=MAX_GUEST_MEM_MIB).contains(&m))
                    .ok_or_else(|| {
                        Error::Usage(format!(
                            "--mem-mib {text:?}: give a whole number of MiB from 2 to {MAX_GUEST_MEM_MIB}"
                        ))
                    })?;
                mem_mib_given = true;
            }
            "--huge-pages" => {
                let text = value("--huge-pages")?;
                config.huge_pages = HugePages::parse(&text).ok_or_else(|| {
                    Error::Usage(format!("--huge-pages {text:?}: give auto, on or off"))
                })?;
            }
            "--report-fd" => {
                let text = value("--report-fd")?;
                config.report_fd = Some(text.parse().map_err(|_| {
                    Error::Usage(format!("--report-fd {text:?}: not a descriptor number"))
                })?);
            }
            "--no-pit" => config.pit = false,
            "--split-irqchip" => config.split_irqchip = true,
            "--snapshot" => config.snapshot_to = Some(PathBuf::from(value("--snapshot")?)),
            "--restore" => restore_dir = Some(PathBuf::from(value("--restore")?)),
            "--verify-memory" => verify_memory = true,
            "--start-fd" => {
                let text = value("--start-fd")?;
                start_fd = Some(text.parse().map_err(|_| {
                    Error::Usage(format!("--start-fd {text:?}: not a descriptor number"))
                })?);
            }
            "--help" | "-h" => return Ok(Command::Help),
            other => return Err(Error::Usage(format!("unknown argument {other:?}"))),
        }
    }
    if let Some(dir) = restore_dir {
        let boot_only = kernel.is_some()
            || config.initrd.is_some()
            || config.snapshot_to.is_some()
            || !config.cmdline.is_empty()
            || !config.pit
            || config.split_irqchip
            || config.huge_pages != HugePages::Auto;
        if boot_only {
            return Err(Error::Usage(
                "--restore takes the guest and its devices from the snapshot: drop --kernel, --initrd, --cmdline, --snapshot, --no-pit, --split-irqchip and --huge-pages".into(),
            ));
        }
        return Ok(Command::Restore(RestoreConfig {
            dir,
            mem_mib: mem_mib_given.then_some(config.mem_mib),
            report_fd: config.report_fd,
            verify_memory,
            start_fd,
        }));
    }
    if verify_memory || start_fd.is_some() {
        return Err(Error::Usage(
            "--verify-memory and --start-fd go with --restore".into(),
        ));
    }
    if config.split_irqchip && config.pit {
        return Err(Error::Usage(
            "--split-irqchip needs --no-pit: KVM's PIT needs its in-kernel PIC".into(),
        ));
    }
    config.kernel = kernel.ok_or_else(|| Error::Usage("--kernel is required".into()))?;
    Ok(Command::Run(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_a_full_command_line() {
        let Command::Run(config) = parse(args(
            "--kernel k --initrd i --mem-mib 64 --huge-pages off --report-fd 5",
        ))
        .unwrap() else {
            panic!()
        };
        assert_eq!(config.kernel, PathBuf::from("k"));
        assert_eq!(config.initrd, Some(PathBuf::from("i")));
        assert_eq!((config.mem_mib, config.report_fd), (64, Some(5)));
        assert_eq!(config.huge_pages, HugePages::Off);
        assert!(config.pit, "a PIT unless asked otherwise");
        let Command::Run(config) = parse(args("--kernel k --no-pit")).unwrap() else {
            panic!()
        };
        assert!(!config.pit);
        assert!(
            !config.split_irqchip,
            "KVM's irqchip unless asked otherwise"
        );
        let Command::Run(config) = parse(args("--kernel k --no-pit --split-irqchip")).unwrap()
        else {
            panic!()
        };
        assert!(config.split_irqchip && !config.pit);
    }

    #[test]
    fn a_split_irqchip_goes_without_a_pit_and_with_a_snapshot() {
        let refusal = |text: &str| match parse(args(text)) {
            Err(Error::Usage(message)) => message,
            _ => panic!("{text:?} was accepted"),
        };
        assert!(refusal("--kernel k --split-irqchip").contains("needs --no-pit"));
        assert!(refusal("--restore s --split-irqchip").contains("--split-irqchip"));
        let Command::Run(config) =
            parse(args("--kernel k --no-pit --split-irqchip --snapshot s")).unwrap()
        else {
            panic!()
        };
        assert!(config.split_irqchip && config.snapshot_to.is_some());
    }

    #[test]
    fn rejects_bad_values() {
        assert!(parse(args("--initrd i")).is_err(), "kernel is required");
        assert!(parse(args("--kernel k --mem-mib lots")).is_err());
        assert!(parse(args("--kernel k --mem-mib 1")).is_err());
        assert!(parse(args("--kernel k --frobnicate")).is_err());
        assert!(parse(args("--kernel k --huge-pages maybe")).is_err());
        assert!(parse(args("--restore d --kernel k")).is_err());
        assert!(parse(args("--restore d --no-pit")).is_err());
        assert!(parse(args("--kernel k --verify-memory")).is_err());
        assert!(parse(args("--kernel k --start-fd 4")).is_err());
        assert!(parse(args("--restore d --start-fd four")).is_err());
    }

    #[test]
    fn parses_snapshot_and_restore() {
        let Command::Run(config) = parse(args("--kernel k --snapshot s")).unwrap() else {
            panic!()
        };
        assert_eq!(config.snapshot_to, Some(PathBuf::from("s")));
        let Command::Restore(restore) = parse(args("--restore s --report-fd 3")).unwrap() else {
            panic!()
        };
        assert_eq!(restore.dir, PathBuf::from("s"));
        assert_eq!((restore.mem_mib, restore.report_fd), (None, Some(3)));
        let Command::Restore(restore) =
            parse(args("--restore s --mem-mib 16 --verify-memory")).unwrap()
        else {
            panic!()
        };
        assert_eq!(restore.mem_mib, Some(16));
        assert!(restore.verify_memory);
        assert_eq!(restore.start_fd, None);
        let Command::Restore(restore) = parse(args("--restore s --start-fd 7")).unwrap() else {
            panic!()
        };
        assert_eq!(restore.start_fd, Some(7));
    }
}
