//! The `microvm` and `microvm-linux` isolators: one `isobench-vmm` process per instance.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::guest::{self, GuestImage};
use super::instance::{launch_vm, VmSpec};
use super::user_guest;
use super::vmm_binary::find_vmm;
use crate::cgroup::MeasuringCgroups;
use crate::host::Host;
use crate::isolator::{
    Availability, Description, DiskFootprint, GuestKind, Instance, Isolator, KernelKind, Kind,
    Launcher, Workload,
};
use crate::user_workload::UserWorkload;
use crate::Error;
use isobench_protocol::{DEFAULT_GUEST_MEM_MIB, MAX_GUEST_MEM_MIB};

/// Which guest the VM boots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmGuest {
    /// isobench's own few-hundred-byte PVH guest: the floor of VM startup.
    Bare,
    /// A real Linux kernel with the probe as /init.
    Linux,
}

pub struct MicrovmIsolator {
    guest: VmGuest,
    kernel_option: Option<PathBuf>,
    mem_mib: u32,
    /// `--mem-mib` as given: a user workload sizes guest RAM itself when it is absent.
    mem_option: Option<u32>,
    /// The user's workload (`--rootfs/--cmd/--ready`): the Linux guest boots its tree.
    user: Option<Arc<UserWorkload>>,
}

/// The VM every launch boots, and what it needs on disk.
struct MicrovmLauncher {
    spec: VmSpec,
    disk: DiskFootprint,
    cgroups: MeasuringCgroups,
}

impl MicrovmIsolator {
    pub fn new(guest: VmGuest, kernel: Option<PathBuf>, mem_mib: Option<u32>) -> MicrovmIsolator {
        MicrovmIsolator {
            guest,
            kernel_option: kernel,
            mem_mib: mem_mib.unwrap_or(DEFAULT_GUEST_MEM_MIB),
            mem_option: mem_mib,
            user: None,
        }
    }

    /// Runs the user's workload (`options.user`): the Linux guest boots its tree; the bare
    /// guest says it cannot.
    pub fn with_user(mut self, user: Option<Arc<UserWorkload>>) -> MicrovmIsolator {
        self.user = user;
        self
    }
}

/// Largest cpu/mem unit count the bare guest takes on software KVM, where each guest
/// instruction goes through KVM's emulator: one unit of either took 7.5–8 s on kvm_pvm.
const SOFTWARE_KVM_MAX_WORK_UNITS: u32 = 2;

/// On software KVM, refuses cpu/mem sizes that would run for minutes per launch.
fn refuse_emulated_marathon(work: &guest::BareWork, mode: &str) -> Result<(), Error> {
    let units = match *work {
        guest::BareWork::Cpu { units } => units,
        guest::BareWork::Mem { mib } => mib,
        _ => return Ok(()),
    };
    let kvm = crate::kvm::KvmAccess::detect();
    if units > SOFTWARE_KVM_MAX_WORK_UNITS && kvm.is_software() {
        return Err(Error::BadInput(format!(
            "/dev/kvm is {} here: the bare guest's instructions are emulated (~8 s per cpu or mem unit), so {mode} would take minutes per launch; use cpu:1 or mem:1 for a (flagged) figure, or a host with hardware KVM",
            kvm.provider
        )));
    }
    Ok(())
}

impl Isolator for MicrovmIsolator {
    fn name(&self) -> &str {
        match self.guest {
            VmGuest::Bare => "microvm",
            VmGuest::Linux => "microvm-linux",
        }
    }
    fn kind(&self) -> Kind {
        Kind::Microvm
    }
    fn guest(&self) -> GuestKind {
        match self.guest {
            VmGuest::Bare => GuestKind::Bare,
            VmGuest::Linux => GuestKind::Linux,
        }
    }
    fn describe(&self) -> Description {
        let (boundary, notes) = match self.guest {
            VmGuest::Bare => (
                "own guest (bare PVH code, no OS) + KVM hardware virtualization; VMM: isobench-vmm",
                vec!["the guest is a few hundred bytes of 32-bit code, not an OS: the floor of VM startup".to_string()],
            ),
            VmGuest::Linux => (
                "own guest kernel + KVM hardware virtualization; VMM: isobench-vmm",
                match guest::find_kernel(self.kernel_option.as_deref()) {
                    Ok(kernel) => vec![format!("guest kernel {}, initramfs with the probe as /init", kernel.display())],
                    Err(_) => Vec::new(),
                }
                .into_iter()
                .chain(self.user.iter().flat_map(|user| user_guest::user_notes(user, self.mem_option)))
                .collect(),
            ),
        };
        Description {
            boundary: boundary.into(),
            kernel: KernelKind::Own,
            version: format!("isobench-vmm {}", env!("CARGO_PKG_VERSION")),
            notes,
        }
    }
    fn availability(&self, host: &Host) -> Availability {
        if let Some(user) = &self.user {
            let problem = match self.guest {
                VmGuest::Bare => Some(user_guest::bare_guest_refusal()),
                VmGuest::Linux => user_guest::user_availability_problem(user),
            };
            if let Some(problem) = problem {
                return Availability::unavailable(problem);
            }
        }
        availability(host, self.guest, self.kernel_option.as_deref())
    }
    fn prepare(&self, workload: &Workload, scratch: &Path) -> Result<Box<dyn Launcher>, Error> {
        let vmm = find_vmm()?;
        let guest = match self.guest {
            VmGuest::Bare => {
                if workload.startup_delay_us > 0 {
                    return Err(Error::BadInput(format!(
                        "the bare guest cannot sleep before ready ({workload}); use process or container for delay injection"
                    )));
                }
                let mode = workload.mode.to_string();
                let work = guest::BareWork::from_mode(&mode).map_err(Error::BadInput)?;
                refuse_emulated_marathon(&work, &mode)?;
                GuestImage::bare(&work, self.mem_mib, scratch)?
            }
            VmGuest::Linux => {
                // The same PVH vmlinux every peer VMM boots (see VmmProfile::kernel_image).
                let found = guest::find_kernel(self.kernel_option.as_deref())?;
                let kernel = crate::kernel::vmlinux_for(&found, &crate::kernel::cache_dir())?;
                match &self.user {
                    Some(user) => {
                        GuestImage::linux_user(kernel, workload, user, self.mem_option, scratch)?
                    }
                    None => {
                        user_guest::refuse_exec_without_user(workload)?;
                        GuestImage::linux(kernel, workload, self.mem_mib, scratch)?
                    }
                }
            }
        };
        // What the workload holds can raise guest RAM past what isobench-vmm maps: say so
        // now, not in every trial.
        if guest.mem_mib > MAX_GUEST_MEM_MIB {
            return Err(Error::BadInput(format!(
                "{workload} needs {} MiB of guest RAM, more than isobench-vmm maps ({MAX_GUEST_MEM_MIB} MiB); choose a smaller workload",
                guest.mem_mib
            )));
        }
        let disk = crate::disk::measure(std::slice::from_ref(&vmm), &guest.files())?;
        let spec = VmSpec {
            vmm,
            guest,
            pit: self.guest == VmGuest::Linux,
        };
        Ok(Box::new(MicrovmLauncher {
            spec,
            disk,
            cgroups: MeasuringCgroups::prepare(),
        }))
    }
}

impl Launcher for MicrovmLauncher {
    fn disk(&self) -> &DiskFootprint {
        &self.disk
    }
    fn launch(&mut self) -> Result<Box<dyn Instance>, Error> {
        Ok(Box::new(launch_vm(&self.spec, self.cgroups.create()?)?))
    }
}

/// Whether our VMM can run `guest` here: a usable /dev/kvm, the VMM binary, and for the Linux
/// guest hardware KVM and a kernel. The cold and the restored rows ask the same.
pub(super) fn availability(
    host: &Host,
    guest: VmGuest,
    kernel_option: Option<&Path>,
) -> Availability {
    if let Some(problem) = &host.kvm.problem {
        return Availability::unavailable(problem.clone());
    }
    if let Err(e) = find_vmm() {
        return Availability::unavailable(e.to_string());
    }
    if guest == VmGuest::Linux {
        if host.kvm.is_software() {
            return Availability::unavailable(format!(
                "/dev/kvm is {} here, which cannot run a Linux guest (emulation failure); use a host with hardware KVM",
                host.kvm.provider
            ));
        }
        if let Err(e) = guest::find_kernel(kernel_option) {
            return Availability::unavailable(e.to_string());
        }
    }
    Availability::Available
}
