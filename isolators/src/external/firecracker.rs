//! Firecracker booting the bare PVH guest from a config file (`--no-api --config-file`): the
//! serial console is its stdio, and the guest's i8042 reset ends the VMM with status 0.
//! Debian has no package: the user puts a release binary on PATH or passes `--engine`.
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

pub struct FirecrackerIsolator {
    engine: Engine,
    mem_mib: Option<u32>,
    prepared: Option<(PathBuf, BareGuest, PathBuf)>,
}

impl FirecrackerIsolator {
    pub fn new(options: &RegistryOptions) -> FirecrackerIsolator {
        FirecrackerIsolator {
            engine: Engine::new(
                "firecracker",
                "firecracker",
                "download a release binary (github.com/firecracker-microvm/firecracker/releases) and put it on PATH",
                "firecracker v",
                options,
            ),
            mem_mib: options.vm_mem_mib,
            prepared: None,
        }
    }
}

/// Firecracker's VM configuration for the bare guest: one vCPU, no drives, no network.
pub fn firecracker_config(elf: &Path, mem_mib: u32) -> serde_json::Value {
    serde_json::json!({
        "boot-source": {
            "kernel_image_path": elf,
            "boot_args": "",
        },
        "drives": [],
        "machine-config": {
            "vcpu_count": 1,
            "mem_size_mib": mem_mib,
            "smt": false,
        },
    })
}

impl Isolator for FirecrackerIsolator {
    fn name(&self) -> &str {
        "firecracker"
    }
    fn kind(&self) -> Kind {
        Kind::Microvm
    }
    fn describe(&self) -> Description {
        Description {
            boundary:
                "own guest (bare PVH code, no OS) + KVM hardware virtualization; VMM: Firecracker"
                    .into(),
            kernel: KernelKind::Own,
            version: self.engine.version_text(),
            notes: vec![
                "--no-api --config-file; guest is isobench's bare PVH ELF, not Linux".into(),
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
        let firecracker = self.engine.require()?;
        let guest = BareGuest::write("firecracker", workload, self.mem_mib, scratch)?;
        let config = scratch.join("firecracker.json");
        let text = serde_json::to_string_pretty(&firecracker_config(&guest.elf, guest.mem_mib))
            .map_err(|e| Error::Engine(format!("firecracker config: {e}")))?;
        std::fs::write(&config, text)
            .map_err(|e| Error::io(format!("cannot write {}", config.display()), e))?;
        let footprint = guest.footprint(&firecracker)?;
        self.prepared = Some((firecracker, guest, config));
        Ok(footprint)
    }
    fn launch(&mut self) -> Result<Box<dyn Instance>, Error> {
        let (firecracker, guest, config) = self
            .prepared
            .as_ref()
            .ok_or_else(|| Error::BadInput("firecracker: launch before prepare".into()))?;
        let scratch = config.parent().unwrap_or(Path::new("/tmp"));
        let mut command = Command::new(firecracker);
        command
            .arg("--no-api")
            .arg("--config-file")
            .arg(config)
            .args(["--level", "Error"])
            .env_clear();
        let spawned = Spawned::spawn(&mut command, None, scratch)?;
        Ok(Box::new(VmInstance::new(
            spawned,
            "firecracker+guest boot",
            guest.mem_mib,
            GuestExit::ExitsOnReset,
        )))
    }
}
