//! The VMM family: one generic [`VmmIsolator`] over a [`VmmProfile`] that says only what differs
//! between qemu -M microvm, Firecracker and Cloud Hypervisor — the engine, its command line, its
//! console and how it ends. Every profile boots the same [`GuestImage`] (today isobench's bare
//! PVH guest, the same bytes our own VMM boots).
use std::path::{Path, PathBuf};
use std::process::Command;

use super::instance::{GuestExit, VmInstance};
use crate::external::engine::{Engine, EngineSpec};
use crate::external::spawned::Spawned;
use crate::host::Host;
use crate::isolator::{
    Availability, Description, DiskFootprint, GuestKind, Instance, Isolator, KernelKind, Kind,
    Launcher, Workload,
};
use crate::microvm::guest;
use crate::options::IsolatorOptions;
use crate::Error;
use isobench_protocol::{Mode, DEFAULT_GUEST_MEM_MIB};

/// Where a VMM's serial console is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Console {
    /// On the VMM's stdin and stdout pipes.
    Stdio,
    /// On a terminal (the VMM insists on a tty).
    Terminal,
}

/// What one VMM adds to [`VmmIsolator`]: all that differs between them.
pub trait VmmProfile: Send + Sync + 'static {
    /// The isolator's name, its executable and how to get it.
    fn engine(&self) -> EngineSpec;
    /// The VMM as the boundary names it, e.g. "qemu -M microvm".
    fn label(&self) -> &'static str;
    /// Deviations from a stock set-up a reader must know.
    fn notes(&self) -> Vec<String>;
    /// How the VMM ends when the guest asks it to.
    fn exit(&self) -> GuestExit;
    fn console(&self) -> Console {
        Console::Stdio
    }
    /// Writes whatever the VMM reads besides its command line (a config file) into `scratch`.
    fn write_config(&self, _guest: &GuestImage, _scratch: &Path) -> Result<(), Error> {
        Ok(())
    }
    /// The VMM's arguments for one VM.
    fn args(&self, guest: &GuestImage, scratch: &Path) -> Vec<String>;
}

/// The guest a VMM boots: a kernel image, its RAM, and (for Linux) an initramfs and command line.
#[derive(Debug, Clone)]
pub struct GuestImage {
    pub kernel: PathBuf,
    pub initrd: Option<PathBuf>,
    pub cmdline: String,
    pub mem_mib: u32,
}

impl GuestImage {
    /// Writes isobench's bare PVH guest into `scratch` as `bare.elf`; it runs only `noop` and
    /// `touch:<MiB>` (these VMMs do not report the work stamps, so cpu and mem would be untimed).
    pub fn write_bare(
        vmm: &str,
        workload: &Workload,
        mem_mib: Option<u32>,
        scratch: &Path,
    ) -> Result<GuestImage, Error> {
        if !matches!(workload.mode, Mode::Noop | Mode::Touch { .. })
            || workload.startup_delay_us > 0
        {
            return Err(Error::BadInput(format!(
                "{vmm} boots the bare PVH guest, which runs only noop and touch:<MiB>, not {workload}"
            )));
        }
        let work =
            guest::BareWork::from_mode(&workload.mode.to_string()).map_err(Error::BadInput)?;
        let kernel = scratch.join("bare.elf");
        std::fs::write(&kernel, guest::bare_guest_elf(&work))
            .map_err(|e| Error::io(format!("cannot write {}", kernel.display()), e))?;
        let mem_mib = mem_mib
            .unwrap_or(DEFAULT_GUEST_MEM_MIB)
            .max(guest::min_memory_mib(&work));
        Ok(GuestImage {
            kernel,
            initrd: None,
            cmdline: String::new(),
            mem_mib,
        })
    }

    /// The image files (kernel, initramfs) for the disk footprint.
    pub fn files(&self) -> Vec<PathBuf> {
        std::iter::once(self.kernel.clone())
            .chain(self.initrd.clone())
            .collect()
    }
}

/// A VMM adapter; everything VMM-specific comes from its profile.
pub struct VmmIsolator<P> {
    profile: P,
    engine: Engine,
    mem_mib: Option<u32>,
}

impl<P: VmmProfile> VmmIsolator<P> {
    pub fn new(profile: P, options: &IsolatorOptions) -> VmmIsolator<P> {
        VmmIsolator {
            engine: Engine::new(profile.engine(), options),
            profile,
            mem_mib: options.vm_mem_mib,
        }
    }

    pub fn profile(&self) -> &P {
        &self.profile
    }
}

impl<P: VmmProfile> Isolator for VmmIsolator<P> {
    fn name(&self) -> &str {
        self.engine.name()
    }
    fn kind(&self) -> Kind {
        Kind::Microvm
    }
    fn guest(&self) -> GuestKind {
        GuestKind::Bare
    }
    fn describe(&self) -> Description {
        Description {
            boundary: format!(
                "own guest (bare PVH code, no OS) + KVM hardware virtualization; VMM: {}",
                self.profile.label()
            ),
            kernel: KernelKind::Own,
            version: self.engine.version_text(),
            notes: self.profile.notes(),
        }
    }
    fn availability(&self, host: &Host) -> Availability {
        match &host.kvm.problem {
            Some(problem) => Availability::unavailable(problem.clone()),
            None => self.engine.availability(),
        }
    }
    fn prepare(&self, workload: &Workload, scratch: &Path) -> Result<Box<dyn Launcher>, Error> {
        let vmm = self.engine.require()?;
        let guest = GuestImage::write_bare(self.name(), workload, self.mem_mib, scratch)?;
        self.profile.write_config(&guest, scratch)?;
        let disk = crate::disk::measure(std::slice::from_ref(&vmm), &guest.files())?;
        Ok(Box::new(VmmLauncher {
            args: self.profile.args(&guest, scratch),
            console: self.profile.console(),
            exit: self.profile.exit(),
            phase: format!("{}+guest boot", self.name()),
            vmm,
            guest,
            scratch: scratch.to_path_buf(),
            disk,
        }))
    }
}

/// A prepared VM: the VMM command line every launch runs.
struct VmmLauncher {
    vmm: PathBuf,
    args: Vec<String>,
    console: Console,
    exit: GuestExit,
    phase: String,
    guest: GuestImage,
    scratch: PathBuf,
    disk: DiskFootprint,
}

impl Launcher for VmmLauncher {
    fn disk(&self) -> &DiskFootprint {
        &self.disk
    }
    fn launch(&mut self) -> Result<Box<dyn Instance>, Error> {
        let mut command = Command::new(&self.vmm);
        command.args(&self.args).env_clear();
        let spawned = match self.console {
            Console::Stdio => Spawned::spawn(&mut command, None, &self.scratch)?,
            Console::Terminal => Spawned::spawn_on_terminal(&mut command, &self.scratch)?,
        };
        Ok(Box::new(VmInstance::new(
            spawned,
            self.phase.clone(),
            self.guest.mem_mib,
            self.exit,
        )))
    }
}
