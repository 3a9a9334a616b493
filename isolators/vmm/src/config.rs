//! What one VM looks like, from the command line.
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::memory::HugePages;
use isobench_protocol::{DEFAULT_GUEST_MEM_MIB, MAX_GUEST_MEM_MIB};

pub const USAGE: &str = "usage: isobench-vmm --kernel PATH [--initrd PATH] [--cmdline STRING] [--mem-mib N] [--huge-pages auto|on|off] [--report-fd FD] [--no-pit]

Boots one VM with one vCPU on /dev/kvm. The kernel may be a PVH ELF, an ELF vmlinux or a
bzImage. Guest serial output goes to stdout; stdin feeds the guest's serial input. With
--report-fd, phase timestamps (CLOCK_MONOTONIC ns), guest RAM ranges, the boot-timer stamp
(guest writes 123 to port 0x3f0) and the exit reason are written there, one per line.
--huge-pages: back guest RAM with transparent huge pages (auto: when the kernel file is
2 MiB or more, i.e. a guest OS).
--no-pit leaves out the i8254 timer, for a guest that programs no legacy timer: KVM runs each
PIT on a kernel worker thread whose stop holds up the VMM's exit by milliseconds.";

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
}

/// What the command line asked for.
pub enum Command {
    Run(VmConfig),
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
    };
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
            "--help" | "-h" => return Ok(Command::Help),
            other => return Err(Error::Usage(format!("unknown argument {other:?}"))),
        }
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
    }

    #[test]
    fn rejects_bad_values() {
        assert!(parse(args("--initrd i")).is_err(), "kernel is required");
        assert!(parse(args("--kernel k --mem-mib lots")).is_err());
        assert!(parse(args("--kernel k --mem-mib 1")).is_err());
        assert!(parse(args("--kernel k --frobnicate")).is_err());
        assert!(parse(args("--kernel k --huge-pages maybe")).is_err());
    }
}
