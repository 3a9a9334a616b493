//! QEMU's `-M microvm` machine booting isobench's bare PVH guest: no firmware, no PCI, a 16550
//! on stdio, `isa-debug-exit` at 0xf4 so the guest ends QEMU with exit status 1.
use std::path::{Path, PathBuf};
use std::process::Command;

use super::engine::Engine;
use super::spawned::Spawned;
use super::vm::{kvm_availability, BareGuest, GuestExit, VmInstance};
use crate::disk::DiskFootprint;
use crate::host::Host;
use crate::isolator::{Availability, Description, Instance, Isolator, KernelKind, Kind};
use crate::probe::Workload;
use crate::registry::RegistryOptions;
use crate::Error;

pub struct QemuMicrovmIsolator {
    engine: Engine,
    mem_mib: Option<u32>,
    prepared: Option<(PathBuf, BareGuest, PathBuf)>,
}

impl QemuMicrovmIsolator {
    pub fn new(options: &RegistryOptions) -> QemuMicrovmIsolator {
        QemuMicrovmIsolator {
            engine: Engine::new(
                "qemu-microvm",
                "qemu-system-x86_64",
                "apt-get install qemu-system-x86",
                "qemu emulator version",
                options,
            ),
            mem_mib: options.vm_mem_mib,
            prepared: None,
        }
    }
}

/// The QEMU arguments for one bare-guest VM.
pub fn qemu_args(elf: &Path, mem_mib: u32) -> Vec<String> {
    [
        "-M",
        "microvm,x-option-roms=off,isa-serial=on,rtc=off",
        // arch-capabilities is not offered by every KVM (software KVM refuses it).
        "-cpu",
        "host,-arch-capabilities",
        "-enable-kvm",
        "-m",
        &mem_mib.to_string(),
        "-smp",
        "1",
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-serial",
        "stdio",
        "-device",
        "isa-debug-exit,iobase=0xf4,iosize=0x04",
        "-kernel",
        &elf.to_string_lossy(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

impl Isolator for QemuMicrovmIsolator {
    fn name(&self) -> &str {
        "qemu-microvm"
    }
    fn kind(&self) -> Kind {
        Kind::Microvm
    }
    fn describe(&self) -> Description {
        Description {
            boundary: "own guest (bare PVH code, no OS) + KVM hardware virtualization; VMM: qemu -M microvm".into(),
            kernel: KernelKind::Own,
            version: self.engine.version_text(),
            notes: vec![
                "-cpu host,-arch-capabilities; guest is isobench's bare PVH ELF, not Linux".into(),
            ],
        }
    }
    fn availability(&self, host: &Host) -> Availability {
        match kvm_availability(host) {
            Availability::Available => self.engine.availability(),
            unavailable => unavailable,
        }
    }
    fn prepare(&mut self, workload: &Workload, scratch: &Path) -> Result<DiskFootprint, Error> {
        let qemu = self.engine.require()?;
        let guest = BareGuest::write("qemu-microvm", workload, self.mem_mib, scratch)?;
        let footprint = guest.footprint(&qemu)?;
        self.prepared = Some((qemu, guest, scratch.to_path_buf()));
        Ok(footprint)
    }
    fn launch(&mut self) -> Result<Box<dyn Instance>, Error> {
        let (qemu, guest, scratch) = self
            .prepared
            .as_ref()
            .ok_or_else(|| Error::BadInput("qemu-microvm: launch before prepare".into()))?;
        let mut command = Command::new(qemu);
        command
            .args(qemu_args(&guest.elf, guest.mem_mib))
            .env_clear();
        let spawned = Spawned::spawn(&mut command, None, scratch)?;
        Ok(Box::new(VmInstance::new(
            spawned,
            "qemu+guest boot",
            guest.mem_mib,
            GuestExit::DebugExitPort,
        )))
    }
}
