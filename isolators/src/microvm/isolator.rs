//! The `microvm` and `microvm-linux` isolators: one `isobench-vmm` process per instance.
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};

use super::guest;
use super::report::{Event, LineReader};
use crate::disk::DiskFootprint;
use crate::host::Host;
use crate::isolator::{
    monotonic_ns, parse_ready_report, Availability, Description, Instance, Isolator, KernelKind,
    Kind, Ready, Resources,
};
use crate::probe::Workload;
use crate::{reap, Error};

/// Which guest the VM boots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestKind {
    /// isobench's own few-hundred-byte PVH guest: the floor of VM startup.
    Bare,
    /// A real Linux kernel with the probe as /init.
    Linux,
}

/// Guest RAM unless --mem-mib says otherwise; 128 MiB matches the qemu-microvm adapter.
const DEFAULT_MEM_MIB: u32 = 128;

pub struct MicrovmIsolator {
    guest: GuestKind,
    kernel_option: Option<PathBuf>,
    mem_mib: u32,
    prepared: Option<Prepared>,
}

struct Prepared {
    vmm: PathBuf,
    kernel: PathBuf,
    initrd: Option<PathBuf>,
    cmdline: String,
    mem_mib: u32,
    linux: bool,
}

impl MicrovmIsolator {
    pub fn new(guest: GuestKind, kernel: Option<PathBuf>, mem_mib: Option<u32>) -> MicrovmIsolator {
        MicrovmIsolator {
            guest,
            kernel_option: kernel,
            mem_mib: mem_mib.unwrap_or(DEFAULT_MEM_MIB),
            prepared: None,
        }
    }
}

/// Finds `isobench-vmm` with no configuration: `ISOBENCH_VMM`, next to the running executable
/// (or one level up, for test binaries in target/*/deps), then PATH.
pub fn find_vmm() -> Result<PathBuf, Error> {
    if let Some(path) = std::env::var_os("ISOBENCH_VMM") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(Error::BadInput(format!(
                "ISOBENCH_VMM={}: no such file",
                path.display()
            )))
        };
    }
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1).take(2) {
            let candidate = dir.join("isobench-vmm");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    crate::testing::which("isobench-vmm").ok_or_else(|| {
        Error::Unavailable("isobench-vmm not found next to isobench or on PATH — build it with `cargo build --release` (it is part of the workspace) or set ISOBENCH_VMM".into())
    })
}

impl Isolator for MicrovmIsolator {
    fn name(&self) -> &str {
        match self.guest {
            GuestKind::Bare => "microvm",
            GuestKind::Linux => "microvm-linux",
        }
    }
    fn kind(&self) -> Kind {
        Kind::Microvm
    }
    fn describe(&self) -> Description {
        let guest = match self.guest {
            GuestKind::Bare => "bare PVH guest",
            GuestKind::Linux => "Linux guest, probe as /init",
        };
        Description {
            boundary: format!(
                "own guest kernel + KVM hardware virtualization; VMM isobench-vmm ({guest})"
            ),
            kernel: KernelKind::Own,
            version: format!("isobench-vmm {}", env!("CARGO_PKG_VERSION")),
            notes: Vec::new(),
        }
    }
    fn availability(&self, host: &Host) -> Availability {
        if let Some(problem) = &host.kvm.problem {
            return Availability::unavailable(problem.clone());
        }
        if let Err(e) = find_vmm() {
            return Availability::unavailable(e.to_string());
        }
        if self.guest == GuestKind::Linux {
            if host.kvm.is_software() {
                return Availability::unavailable(format!(
                    "/dev/kvm is {} here, which cannot run a Linux guest (emulation failure); use a host with hardware KVM",
                    host.kvm.provider
                ));
            }
            if let Err(e) = guest::find_kernel(self.kernel_option.as_deref()) {
                return Availability::unavailable(e.to_string());
            }
        }
        Availability::Available
    }
    fn prepare(&mut self, workload: &Workload, scratch: &Path) -> Result<DiskFootprint, Error> {
        let vmm = find_vmm()?;
        let write = |name: &str, bytes: &[u8]| -> Result<PathBuf, Error> {
            let path = scratch.join(name);
            std::fs::write(&path, bytes)
                .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))?;
            Ok(path)
        };
        let touch_mib = (workload.held_bytes() >> 20) as u32;
        let prepared = match self.guest {
            GuestKind::Bare => {
                if !matches!(
                    workload.mode.split([':', ',']).next(),
                    Some("noop" | "touch")
                ) {
                    return Err(Error::BadInput(format!("the bare guest runs only noop and touch:<MiB>, not {:?}; use microvm-linux", workload.mode)));
                }
                let mem_mib = self.mem_mib.max(guest::min_memory_mib(touch_mib));
                let kernel = write("bare.elf", &guest::bare_guest_elf(touch_mib))?;
                Prepared {
                    vmm,
                    kernel,
                    initrd: None,
                    cmdline: String::new(),
                    mem_mib,
                    linux: false,
                }
            }
            GuestKind::Linux => {
                let kernel = guest::find_kernel(self.kernel_option.as_deref())?;
                let initrd = write("initramfs.cpio", &guest::linux_initramfs())?;
                let mem_mib = self.mem_mib.max(touch_mib + 64);
                Prepared {
                    vmm,
                    kernel,
                    initrd: Some(initrd),
                    cmdline: guest::linux_cmdline(workload),
                    mem_mib,
                    linux: true,
                }
            }
        };
        let mut image = vec![prepared.kernel.clone()];
        image.extend(prepared.initrd.clone());
        let footprint = DiskFootprint::measure(std::slice::from_ref(&prepared.vmm), &image)?;
        self.prepared = Some(prepared);
        Ok(footprint)
    }
    fn launch(&mut self) -> Result<Box<dyn Instance>, Error> {
        let p = self
            .prepared
            .as_ref()
            .ok_or_else(|| Error::BadInput("microvm: launch before prepare".into()))?;
        let (report_read, report_write) =
            nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::sys("pipe2", e))?;
        fcntl(&report_write, FcntlArg::F_SETFD(FdFlag::empty()))
            .map_err(|e| Error::sys("fcntl", e))?;
        let mut command = Command::new(&p.vmm);
        command
            .arg("--kernel")
            .arg(&p.kernel)
            .args(["--mem-mib", &p.mem_mib.to_string()]);
        command.args(["--report-fd", &report_write.as_raw_fd().to_string()]);
        if let Some(initrd) = &p.initrd {
            command.arg("--initrd").arg(initrd);
        }
        if !p.cmdline.is_empty() {
            command.args(["--cmdline", &p.cmdline]);
        }
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env_clear()
            .process_group(0);
        let launched_ns = monotonic_ns();
        let child = command
            .spawn()
            .map_err(|e| Error::io(format!("spawn {}", p.vmm.display()), e))?;
        drop(report_write);
        let mut child = child;
        let console = child
            .stdout
            .take()
            .map(|stdout| LineReader::new(OwnedFd::from(stdout)));
        Ok(Box::new(MicrovmInstance {
            child: Some(child),
            report: LineReader::new(report_read),
            console,
            launched_ns,
            guest_ram: Vec::new(),
            linux: p.linux,
            exit: None,
        }))
    }
}

struct MicrovmInstance {
    child: Option<Child>,
    report: LineReader,
    /// The guest's serial console (the VMM's stdout). Kept open until the VMM is reaped, so the
    /// VMM never writes into a closed pipe.
    console: Option<LineReader>,
    launched_ns: u64,
    guest_ram: Vec<(u64, u64)>,
    linux: bool,
    exit: Option<String>,
}

impl MicrovmInstance {
    fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    /// The VMM's stderr, for error messages (it has exited, so this does not block).
    fn stderr_line(&mut self) -> String {
        let mut text = String::new();
        if let Some(stderr) = self.child.as_mut().and_then(|c| c.stderr.as_mut()) {
            let _ = std::io::Read::read_to_string(stderr, &mut text);
        }
        text.lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .to_string()
    }

    /// Reads the probe's ready line from the serial console (Linux guest only).
    fn serial_report(&mut self, deadline_ns: u64) -> std::collections::BTreeMap<String, String> {
        let Some(console) = self.console.as_mut() else {
            return Default::default();
        };
        while let Ok(Some(line)) = console.next_line(deadline_ns, "the guest's ready line") {
            if let Some(rest) = line.split("ISOBENCH-READY").nth(1) {
                return parse_ready_report(rest);
            }
        }
        Default::default()
    }
}

impl Instance for MicrovmInstance {
    fn launched_ns(&self) -> u64 {
        self.launched_ns
    }
    fn wait_ready(&mut self, timeout: Duration) -> Result<Ready, Error> {
        let deadline = self.launched_ns + timeout.as_nanos() as u64;
        let mut phases = Vec::new();
        loop {
            let line = self
                .report
                .next_line(deadline, "the guest's boot-timer write (port 0x3f0)")
                .map_err(|e| match e {
                    Error::Timeout { what, .. } => Error::Timeout { what, timeout },
                    other => other,
                })?;
            let since = |at: u64| at.saturating_sub(self.launched_ns);
            match line.as_deref().and_then(Event::parse) {
                Some(Event::Phase { name, at_ns }) => {
                    let name = if name == "vmm-start" {
                        "vmm-exec".to_string()
                    } else {
                        name
                    };
                    phases.push((name, since(at_ns)));
                }
                Some(Event::GuestRam { start, len }) => self.guest_ram.push((start, len)),
                Some(Event::Ready { at_ns }) => {
                    phases.push(("guest-ready".into(), since(at_ns)));
                    let report = if self.linux {
                        self.serial_report(deadline)
                    } else {
                        Default::default()
                    };
                    return Ok(Ready {
                        ready_ns: at_ns,
                        phases,
                        report,
                    });
                }
                Some(Event::Error { message }) => {
                    return Err(Error::Engine(format!("isobench-vmm: {message}")))
                }
                Some(Event::Exit { reason }) => {
                    return Err(Error::DiedBeforeReady(format!(
                        "the VM ended ({reason}) before the guest was ready"
                    )))
                }
                None if line.is_none() => {
                    let stderr = self.stderr_line();
                    return Err(Error::DiedBeforeReady(format!(
                        "isobench-vmm exited: {}",
                        if stderr.is_empty() {
                            "no message"
                        } else {
                            &stderr
                        }
                    )));
                }
                None => {}
            }
        }
    }
    fn resources(&self) -> Resources {
        let pid = self.pid();
        Resources {
            pids: vec![pid],
            guest_ram: self
                .guest_ram
                .iter()
                .map(|&(start, len)| (pid, start, len))
                .collect(),
            ..Default::default()
        }
    }
    fn release(&mut self) -> Result<(), Error> {
        if let Some(mut stdin) = self.child.as_mut().and_then(|c| c.stdin.take()) {
            // A broken pipe means the VM is already gone; wait_gone reports how it ended.
            let _ = stdin.write_all(b"\n");
        }
        Ok(())
    }
    fn wait_gone(&mut self, timeout: Duration) -> Result<(), Error> {
        let deadline = monotonic_ns() + timeout.as_nanos() as u64;
        while let Some(line) = self.report.next_line(deadline, "the VM to end")? {
            match Event::parse(&line) {
                Some(Event::Exit { reason }) => self.exit = Some(reason),
                Some(Event::Error { message }) => {
                    return Err(Error::Engine(format!("isobench-vmm: {message}")))
                }
                _ => {}
            }
        }
        let status = reap::wait_exit(self.pid(), timeout, "isobench-vmm to exit")?;
        self.child = None;
        self.console = None;
        match status {
            nix::sys::wait::WaitStatus::Exited(_, 0) => Ok(()),
            other => Err(Error::Engine(format!(
                "isobench-vmm ended with {other:?} (guest exit: {})",
                self.exit.as_deref().unwrap_or("none reported")
            ))),
        }
    }
}

impl Drop for MicrovmInstance {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            reap::kill_and_reap(child.id() as i32);
        }
    }
}
