//! The VMM family: one generic [`VmmIsolator`] over a [`VmmProfile`] that says only what differs
//! between qemu -M microvm, Firecracker and Cloud Hypervisor — the engine, its command line, its
//! console and how it ends. Every profile boots the same [`GuestImage`] as our own VMM: the bare
//! PVH guest, or the Linux kernel with the probe as /init.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use super::instance::{GuestExit, VmInstance};
use crate::cgroup::MeasuringCgroups;
use crate::external::engine::{Engine, EngineSpec};
use crate::external::spawned::Spawned;
use crate::host::Host;
use crate::isolator::{
    Availability, Description, DiskFootprint, GuestKind, Instance, Isolator, KernelKind, Kind,
    Launcher, Workload,
};
use crate::microvm::guest::{self, GuestImage};
use crate::microvm::user_guest;
use crate::options::IsolatorOptions;
use crate::user_workload::UserWorkload;
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
    /// How the VMM ends when the bare guest asks it to.
    fn exit(&self) -> GuestExit;
    /// How the VMM ends when the Linux guest asks it to (with [`VmmProfile::extra_cmdline`]).
    fn linux_exit(&self) -> GuestExit {
        self.exit()
    }
    fn console(&self) -> Console {
        Console::Stdio
    }
    /// Writes whatever the VMM reads besides its command line (a config file) into `scratch`.
    fn write_config(&self, _guest: &GuestImage, _scratch: &Path) -> Result<(), Error> {
        Ok(())
    }
    /// The VMM's arguments for one VM.
    fn args(&self, guest: &GuestImage, scratch: &Path) -> Vec<String>;
    /// Whether the VM runs without hardware virtualization (QEMU's TCG): flagged in every output.
    fn emulated(&self) -> bool {
        false
    }
    /// Why the engine, present and proven, still cannot run here (e.g. a QEMU without TCG).
    fn host_problem(&self, _engine: &Engine) -> Option<String> {
        None
    }
    /// Words this VMM's Linux guest adds to the shared kernel command line (none by default).
    fn extra_cmdline(&self) -> Option<String> {
        None
    }
    /// The kernel file this VMM boots for the Linux guest `kernel` (as found: a bzImage or a
    /// vmlinux). Every VMM here boots the same PVH ELF vmlinux, extracted from a bzImage once
    /// and cached: Firecracker and Cloud Hypervisor need one, and no guest then spends its
    /// boot decompressing itself.
    fn kernel_image(&self, kernel: &Path) -> Result<PathBuf, Error> {
        crate::kernel::vmlinux_for(kernel, &crate::kernel::cache_dir())
    }
}

/// Which guest a VMM adapter boots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VmmGuest {
    /// isobench's bare PVH guest: the floor of VM startup.
    Bare,
    /// A Linux kernel with the probe as /init (`--kernel`, else the usual search).
    Linux { kernel: Option<PathBuf> },
}

/// Writes isobench's bare PVH guest for `workload`; it runs only `noop` and `touch:<MiB>` in
/// these VMMs (they do not report the work stamps, so cpu and mem would be untimed).
fn bare_guest(
    vmm: &str,
    workload: &Workload,
    mem_mib: u32,
    scratch: &Path,
) -> Result<GuestImage, Error> {
    if !matches!(workload.mode, Mode::Noop | Mode::Touch { .. }) || workload.startup_delay_us > 0 {
        return Err(Error::BadInput(format!(
            "{vmm} boots the bare PVH guest, which runs only noop and touch:<MiB>, not {workload}"
        )));
    }
    let work = guest::BareWork::from_mode(&workload.mode.to_string()).map_err(Error::BadInput)?;
    GuestImage::bare(&work, mem_mib, scratch)
}

/// A VMM adapter; everything VMM-specific comes from its profile.
pub struct VmmIsolator<P> {
    profile: P,
    engine: Engine,
    guest: VmmGuest,
    /// The engine's name, with `-linux` for the Linux guest.
    name: String,
    mem_mib: u32,
    /// `--mem-mib` as given: a user workload sizes guest RAM itself when it is absent.
    mem_option: Option<u32>,
    /// The user's workload: the Linux guest boots its tree, the bare guest says it cannot.
    user: Option<Arc<UserWorkload>>,
}

impl<P: VmmProfile> VmmIsolator<P> {
    /// The bare-guest row, named after the engine.
    pub fn new(profile: P, options: &IsolatorOptions) -> VmmIsolator<P> {
        Self::with_guest(profile, VmmGuest::Bare, options)
    }

    /// The Linux-guest row (`<engine>-linux`), booting the kernel from `--kernel` or the
    /// usual search, with the same initramfs, RAM and vCPU as `microvm-linux`.
    pub fn linux(profile: P, options: &IsolatorOptions) -> VmmIsolator<P> {
        let guest = VmmGuest::Linux {
            kernel: options.kernel.clone(),
        };
        Self::with_guest(profile, guest, options)
    }

    fn with_guest(profile: P, guest: VmmGuest, options: &IsolatorOptions) -> VmmIsolator<P> {
        let spec = profile.engine();
        let name = match (&guest, profile.emulated()) {
            (VmmGuest::Bare, _) | (VmmGuest::Linux { .. }, true) => spec.name.to_string(),
            (VmmGuest::Linux { .. }, false) => format!("{}-linux", spec.name),
        };
        VmmIsolator {
            engine: Engine::for_isolator(spec, &name, options),
            profile,
            guest,
            name,
            mem_mib: options.vm_mem_mib.unwrap_or(DEFAULT_GUEST_MEM_MIB),
            mem_option: options.vm_mem_mib,
            user: options.user.clone(),
        }
    }
}

impl<P: VmmProfile> Isolator for VmmIsolator<P> {
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> Kind {
        Kind::Microvm
    }
    fn guest(&self) -> GuestKind {
        match self.guest {
            VmmGuest::Bare => GuestKind::Bare,
            VmmGuest::Linux { .. } => GuestKind::Linux,
        }
    }
    fn emulated(&self) -> bool {
        self.profile.emulated()
    }
    fn describe(&self) -> Description {
        let guest = match self.guest {
            VmmGuest::Bare => "own guest (bare PVH code, no OS)",
            VmmGuest::Linux { .. } => "own guest kernel (Linux, the probe as /init)",
        };
        let machine = match self.profile.emulated() {
            true => "QEMU TCG emulation, no hardware virtualization",
            false => "KVM hardware virtualization",
        };
        let mut notes = self.profile.notes();
        if let VmmGuest::Linux { kernel } = &self.guest {
            if let Ok(kernel) = guest::find_kernel(kernel.as_deref()) {
                notes.push(format!(
                    "guest kernel {}, initramfs with the probe as /init",
                    kernel.display()
                ));
            }
            if let Some(user) = &self.user {
                notes.extend(user_guest::user_notes(user, self.mem_option));
            }
        }
        Description {
            boundary: format!("{guest} + {machine}; VMM: {}", self.profile.label()),
            kernel: KernelKind::Own,
            version: self.engine.version_text(),
            notes,
        }
    }
    fn availability(&self, host: &Host) -> Availability {
        // A user workload the row cannot run is said first: no host change would help.
        if let Some(user) = &self.user {
            let problem = match self.guest {
                VmmGuest::Bare => Some(user_guest::bare_guest_refusal()),
                VmmGuest::Linux { .. } => user_guest::user_availability_problem(user),
            };
            if let Some(problem) = problem {
                return Availability::unavailable(problem);
            }
        }
        if let (Some(problem), false) = (&host.kvm.problem, self.profile.emulated()) {
            return Availability::unavailable(problem.clone());
        }
        if let Availability::Unavailable { reason } = self.engine.availability() {
            return Availability::unavailable(reason);
        }
        if let Some(problem) = self.profile.host_problem(&self.engine) {
            return Availability::unavailable(problem);
        }
        if let VmmGuest::Linux { kernel } = &self.guest {
            if host.kvm.is_software() && !self.profile.emulated() {
                return Availability::unavailable(format!(
                    "/dev/kvm is {} here, which cannot run a Linux guest (emulation failure); use a host with hardware KVM (the qemu-tcg row runs this guest emulated)",
                    host.kvm.provider
                ));
            }
            if let Err(e) = guest::find_kernel(kernel.as_deref()) {
                return Availability::unavailable(e.to_string());
            }
        }
        Availability::Available
    }
    fn prepare(&self, workload: &Workload, scratch: &Path) -> Result<Box<dyn Launcher>, Error> {
        let vmm = self.engine.require()?;
        let guest = match &self.guest {
            VmmGuest::Bare => bare_guest(self.name(), workload, self.mem_mib, scratch)?,
            VmmGuest::Linux { kernel } => {
                let found = guest::find_kernel(kernel.as_deref())?;
                let image = self.profile.kernel_image(&found)?;
                let mut guest = match &self.user {
                    Some(user) => {
                        GuestImage::linux_user(image, workload, user, self.mem_option, scratch)?
                    }
                    None => {
                        user_guest::refuse_exec_without_user(workload)?;
                        GuestImage::linux(image, workload, self.mem_mib, scratch)?
                    }
                };
                if let Some(extra) = self.profile.extra_cmdline() {
                    guest.cmdline = format!("{} {extra}", guest.cmdline);
                }
                guest
            }
        };
        self.profile.write_config(&guest, scratch)?;
        let disk = crate::disk::measure(std::slice::from_ref(&vmm), &guest.files())?;
        Ok(Box::new(VmmLauncher {
            args: self.profile.args(&guest, scratch),
            console: self.profile.console(),
            exit: match self.guest {
                VmmGuest::Bare => self.profile.exit(),
                VmmGuest::Linux { .. } => self.profile.linux_exit(),
            },
            phase: format!("{}+guest boot", self.engine.name()),
            vmm,
            guest,
            scratch: scratch.to_path_buf(),
            disk,
            cgroups: MeasuringCgroups::prepare(),
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
    /// Each VMM runs in a cgroup of its own, as Firecracker's jailer puts it, so that KVM's
    /// kernel memory for the VM is charged where the memory sample reads it.
    cgroups: MeasuringCgroups,
}

impl Launcher for VmmLauncher {
    fn disk(&self) -> &DiskFootprint {
        &self.disk
    }
    fn launch(&mut self) -> Result<Box<dyn Instance>, Error> {
        let mut command = Command::new(&self.vmm);
        command.args(&self.args).env_clear();
        let cgroup = self.cgroups.create()?;
        let spawned = match self.console {
            Console::Stdio => Spawned::spawn(&mut command, None, &self.scratch, cgroup)?,
            Console::Terminal => Spawned::spawn_on_terminal(&mut command, &self.scratch, cgroup)?,
        };
        Ok(Box::new(VmInstance::new(
            spawned,
            self.phase.clone(),
            self.guest.mem_mib,
            self.exit,
        )))
    }
}
