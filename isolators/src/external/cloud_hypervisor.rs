//! Cloud Hypervisor booting the bare PVH guest (`--kernel`, serial on stdio, no console).
//! `--serial tty` takes console input only when stdin is a terminal, so stdin is a raw pty
//! (the release newline goes there) while the ready line arrives on a stdout pipe.
//! It reboots a guest that resets through the i8042, so the instance ends when the guest's
//! ready line shows a second time and we stop the VMM with SIGTERM. Debian has no package.
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

pub struct CloudHypervisorIsolator {
    engine: Engine,
    mem_mib: Option<u32>,
    prepared: Option<(PathBuf, BareGuest, PathBuf)>,
}

impl CloudHypervisorIsolator {
    pub fn new(options: &RegistryOptions) -> CloudHypervisorIsolator {
        CloudHypervisorIsolator {
            engine: Engine::new(
                "cloud-hypervisor",
                "cloud-hypervisor",
                "download a release binary (github.com/cloud-hypervisor/cloud-hypervisor/releases) and put it on PATH",
                "cloud-hypervisor v",
                options,
            ),
            mem_mib: options.vm_mem_mib,
            prepared: None,
        }
    }
}

/// Cloud Hypervisor's arguments for one bare-guest VM.
pub fn cloud_hypervisor_args(elf: &Path, mem_mib: u32) -> Vec<String> {
    vec![
        "--kernel".into(),
        elf.to_string_lossy().to_string(),
        "--cpus".into(),
        "boot=1".into(),
        "--memory".into(),
        format!("size={mem_mib}M"),
        "--serial".into(),
        "tty".into(),
        "--console".into(),
        "off".into(),
    ]
}

impl Isolator for CloudHypervisorIsolator {
    fn name(&self) -> &str {
        "cloud-hypervisor"
    }
    fn kind(&self) -> Kind {
        Kind::Microvm
    }
    fn describe(&self) -> Description {
        Description {
            boundary: "own guest (bare PVH code, no OS) + KVM hardware virtualization; VMM: Cloud Hypervisor".into(),
            kernel: KernelKind::Own,
            version: self.engine.version_text(),
            notes: vec![
                "guest is isobench's bare PVH ELF; the VMM is stopped with SIGTERM when the guest resets (it would reboot)".into(),
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
        let vmm = self.engine.require()?;
        let guest = BareGuest::write("cloud-hypervisor", workload, self.mem_mib, scratch)?;
        let footprint = guest.footprint(&vmm)?;
        self.prepared = Some((vmm, guest, scratch.to_path_buf()));
        Ok(footprint)
    }
    fn launch(&mut self) -> Result<Box<dyn Instance>, Error> {
        let (vmm, guest, scratch) = self
            .prepared
            .as_ref()
            .ok_or_else(|| Error::BadInput("cloud-hypervisor: launch before prepare".into()))?;
        let mut command = Command::new(vmm);
        command
            .args(cloud_hypervisor_args(&guest.elf, guest.mem_mib))
            .env_clear();
        // Cloud Hypervisor reads serial input only from a terminal on stdin (`--serial tty`).
        let spawned = Spawned::spawn_on_terminal(&mut command, scratch)?;
        Ok(Box::new(VmInstance::new(
            spawned,
            "cloud-hypervisor+guest boot",
            guest.mem_mib,
            GuestExit::RebootsOnReset,
        )))
    }
}
