//! The `microvm` and `microvm-linux` isolators: one `isobench-vmm` process per instance.
use std::path::{Path, PathBuf};

use super::guest;
use super::instance::{launch_vm, VmSpec};
use super::vmm_binary::find_vmm;
use crate::disk::DiskFootprint;
use crate::host::Host;
use crate::isolator::{Availability, Description, Instance, Isolator, KernelKind, Kind};
use crate::probe::Workload;
use crate::Error;

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
    spec: VmSpec,
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
            GuestKind::Bare => "microvm",
            GuestKind::Linux => "microvm-linux",
        }
    }
    fn kind(&self) -> Kind {
        Kind::Microvm
    }
    fn describe(&self) -> Description {
        let (boundary, notes) = match self.guest {
            GuestKind::Bare => (
                "own guest (bare PVH code, no OS) + KVM hardware virtualization; VMM: isobench-vmm",
                vec!["the guest is a few hundred bytes of 32-bit code, not an OS: the floor of VM startup".to_string()],
            ),
            GuestKind::Linux => (
                "own guest kernel + KVM hardware virtualization; VMM: isobench-vmm",
                match guest::find_kernel(self.kernel_option.as_deref()) {
                    Ok(kernel) => vec![format!("guest kernel {}, initramfs with the probe as /init", kernel.display())],
                    Err(_) => Vec::new(),
                },
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
        let spec = match self.guest {
            GuestKind::Bare => {
                if workload.mode.contains(",delay_us=") {
                    return Err(Error::BadInput(format!(
                        "the bare guest cannot sleep before ready ({:?}); use process or container for delay injection",
                        workload.mode
                    )));
                }
                let work = guest::BareWork::from_mode(&workload.mode).map_err(Error::BadInput)?;
                refuse_emulated_marathon(&work, &workload.mode)?;
                let mem_mib = self.mem_mib.max(guest::min_memory_mib(&work));
                let kernel = write("bare.elf", &guest::bare_guest_elf(&work))?;
                VmSpec {
                    vmm,
                    kernel,
                    initrd: None,
                    cmdline: String::new(),
                    mem_mib,
                }
            }
            GuestKind::Linux => {
                let kernel = guest::find_kernel(self.kernel_option.as_deref())?;
                let initrd = write("initramfs.cpio", &guest::linux_initramfs())?;
                let touch_mib = (workload.held_bytes() >> 20) as u32;
                let mem_mib = self.mem_mib.max(touch_mib + 64);
                VmSpec {
                    vmm,
                    kernel,
                    initrd: Some(initrd),
                    cmdline: guest::linux_cmdline(workload),
                    mem_mib,
                }
            }
        };
        let mut image = vec![spec.kernel.clone()];
        image.extend(spec.initrd.clone());
        let footprint = DiskFootprint::measure(std::slice::from_ref(&spec.vmm), &image)?;
        self.prepared = Some(Prepared { spec });
        Ok(footprint)
    }
    fn launch(&mut self) -> Result<Box<dyn Instance>, Error> {
        let prepared = self
            .prepared
            .as_ref()
            .ok_or_else(|| Error::BadInput(format!("{}: launch before prepare", self.name())))?;
        Ok(Box::new(launch_vm(&prepared.spec)?))
    }
}
