//! util-linux `unshare`: new mount, pid, uts, ipc and net namespaces, a chroot into the probe
//! rootfs and a fresh /proc there. No cgroup, no seccomp, no capability drop: the cheapest real container tool.
//!
//! `--root` is a plain chroot into the rootfs directory, which stays writable (no read-only
//! bind), and unshare has no option to bind-mount anything, so the `io` workload cannot get a
//! bind at /tmp without a shell or a helper in the rootfs. Instead each instance gets its own
//! directory inside the rootfs's /tmp (the same host file system as every other isolator's
//! instance directory) and the probe is told `ISOBENCH_IO_DIR=/tmp/<that directory>`.
use std::path::Path;
use std::process::Command;

use super::engine::Engine;
use super::simple::{IoPlace, PreparedRootfs, SimpleInstance};
use super::spawned::Spawned;
use crate::disk::DiskFootprint;
use crate::fdchannel::FdChannel;
use crate::host::Host;
use crate::io_dir::{IoDirs, INSTANCE_TMP, IO_DIR_ENV};
use crate::isolator::{Availability, Description, Instance, Isolator, KernelKind, Kind};
use crate::probe::{Workload, PROBE_NAME};
use crate::registry::RegistryOptions;
use crate::Error;

pub struct UnshareIsolator {
    engine: Engine,
    prepared: Option<PreparedRootfs>,
}

impl UnshareIsolator {
    pub fn new(options: &RegistryOptions) -> UnshareIsolator {
        UnshareIsolator {
            engine: Engine::new(
                "unshare",
                "unshare",
                "apt-get install util-linux",
                "util-linux",
                options,
            ),
            prepared: None,
        }
    }
}

impl Isolator for UnshareIsolator {
    fn name(&self) -> &str {
        "unshare"
    }
    fn kind(&self) -> Kind {
        Kind::Container
    }
    fn describe(&self) -> Description {
        Description {
            boundary:
                "shared kernel + 5 namespaces (mount, pid, uts, ipc, net) + chroot + own /proc; no cgroup"
                    .into(),
            kernel: KernelKind::Shared,
            version: self.engine.version_text(),
            notes: Vec::new(),
        }
    }
    fn availability(&self, host: &Host) -> Availability {
        if !host.is_root {
            return Availability::unavailable(
                "unshare of mount/pid/net namespaces with --root needs root — run isobench as root",
            );
        }
        self.engine.availability()
    }
    fn prepare(&mut self, workload: &Workload, scratch: &Path) -> Result<DiskFootprint, Error> {
        let engine = self.engine.require()?;
        let (prepared, footprint) =
            PreparedRootfs::make(engine, workload, scratch, IoPlace::RootfsTmp)?;
        self.prepared = Some(prepared);
        Ok(footprint)
    }
    fn launch(&mut self) -> Result<Box<dyn Instance>, Error> {
        let prepared = self
            .prepared
            .as_ref()
            .ok_or_else(|| Error::BadInput("unshare: launch before prepare".into()))?;
        let io_dir = prepared.io_dirs.as_ref().map(IoDirs::create).transpose()?;
        let channel = FdChannel::new()?;
        let mut command = Command::new(&prepared.engine);
        command
            .args([
                "--fork",
                "--kill-child",
                "--pid",
                "--mount",
                "--uts",
                "--ipc",
                "--net",
            ])
            .arg(format!("--root={}", prepared.rootfs.display()))
            // After the chroot: the rootfs's empty /proc becomes the new pid namespace's.
            .arg("--mount-proc")
            .arg(format!("/{PROBE_NAME}"))
            .args(["--mode", &prepared.workload.mode])
            .args(["--channel", &channel.probe_channel_arg()])
            .env_clear();
        if let Some(name) = io_dir.as_ref().and_then(|d| d.path().file_name()) {
            let inside = std::path::Path::new(INSTANCE_TMP).join(name);
            command.env(IO_DIR_ENV, inside);
        }
        let spawned = Spawned::spawn(&mut command, Some(channel), &prepared.scratch)?;
        Ok(Box::new(SimpleInstance::new(
            spawned,
            "unshare+exec",
            io_dir,
        )))
    }
}
