//! bubblewrap: every namespace it can make (`--unshare-all`), a read-only bind of the probe
//! rootfs as /, fresh /proc and /dev. No cgroup. For the `io` workload, `--bind DIR /tmp` of
//! the instance's own host directory (bwrap makes every mount nosuid, and `--bind` nodev).
use std::path::Path;
use std::process::Command;

use super::engine::Engine;
use super::simple::{IoPlace, PreparedRootfs, SimpleInstance};
use super::spawned::Spawned;
use crate::disk::DiskFootprint;
use crate::fdchannel::FdChannel;
use crate::host::Host;
use crate::io_dir::{IoDirs, INSTANCE_TMP};
use crate::isolator::{Availability, Description, Instance, Isolator, KernelKind, Kind};
use crate::probe::{Workload, PROBE_NAME};
use crate::registry::RegistryOptions;
use crate::Error;

pub struct BwrapIsolator {
    engine: Engine,
    prepared: Option<PreparedRootfs>,
}

impl BwrapIsolator {
    pub fn new(options: &RegistryOptions) -> BwrapIsolator {
        BwrapIsolator {
            engine: Engine::new(
                "bwrap",
                "bwrap",
                "apt-get install bubblewrap",
                "bubblewrap",
                options,
            ),
            prepared: None,
        }
    }
}

impl Isolator for BwrapIsolator {
    fn name(&self) -> &str {
        "bwrap"
    }
    fn kind(&self) -> Kind {
        Kind::Container
    }
    fn describe(&self) -> Description {
        Description {
            boundary: "shared kernel + namespaces (user, mount, pid, uts, ipc, net, cgroup) + read-only root; no cgroup".into(),
            kernel: KernelKind::Shared,
            version: self.engine.version_text(),
            notes: Vec::new(),
        }
    }
    fn availability(&self, host: &Host) -> Availability {
        if !host.is_root && !host.user_namespaces {
            return Availability::unavailable(
                "bwrap needs user namespaces (or root): enable kernel.unprivileged_userns_clone, or run as root",
            );
        }
        self.engine.availability()
    }
    fn prepare(&mut self, workload: &Workload, scratch: &Path) -> Result<DiskFootprint, Error> {
        let (prepared, footprint) =
            PreparedRootfs::make(self.engine.require()?, workload, scratch, IoPlace::Scratch)?;
        self.prepared = Some(prepared);
        Ok(footprint)
    }
    fn launch(&mut self) -> Result<Box<dyn Instance>, Error> {
        let prepared = self
            .prepared
            .as_ref()
            .ok_or_else(|| Error::BadInput("bwrap: launch before prepare".into()))?;
        let io_dir = prepared.io_dirs.as_ref().map(IoDirs::create).transpose()?;
        let channel = FdChannel::new()?;
        let mut command = Command::new(&prepared.engine);
        command
            .arg("--unshare-all")
            .arg("--ro-bind")
            .arg(&prepared.rootfs)
            .arg("/");
        if let Some(dir) = &io_dir {
            command.arg("--bind").arg(dir.path()).arg(INSTANCE_TMP);
        }
        command
            .args(["--proc", "/proc", "--dev", "/dev", "--die-with-parent"])
            .arg(format!("/{PROBE_NAME}"))
            .args(["--mode", &prepared.workload.mode])
            .args(["--channel", &channel.probe_channel_arg()])
            .env_clear();
        let spawned = Spawned::spawn(&mut command, Some(channel), &prepared.scratch)?;
        Ok(Box::new(SimpleInstance::new(spawned, "bwrap+exec", io_dir)))
    }
}
