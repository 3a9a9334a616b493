//! Engines whose command runs the probe below itself in a rootfs until it exits (unshare,
//! bwrap): [`RootfsIsolator`] is the whole isolator, a [`RootfsTool`] says only what differs
//! (availability, the engine's arguments); the instance's readiness, resources and teardown all
//! come from [`Spawned`], plus the `io` workload's instance directory ([`crate::io_dir`]),
//! removed at teardown.
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use crate::cgroup::MeasuringCgroups;
use crate::external::engine::{Engine, EngineSpec};
use crate::external::spawned::Spawned;
use crate::fdchannel::FdChannel;
use crate::host::Host;
use crate::io_dir::{IoDir, IoDirs};
use crate::isolator::{
    Availability, Description, DiskFootprint, Instance, Isolator, KernelKind, Kind, Launcher,
    Ready, Workload,
};
use crate::options::IsolatorOptions;
use crate::probe::PROBE_NAME;
use crate::resources::Resources;
use crate::user_workload::UserWorkload;
use crate::Error;

/// What one rootfs-based engine adds to [`RootfsIsolator`]: all that differs between them.
pub trait RootfsTool: 'static {
    /// The isolator's name, also the `--engine` key and the executable looked up on PATH.
    const NAME: &'static str;
    /// What to tell a user who does not have the engine.
    const INSTALL_HINT: &'static str;
    /// Words (lower case) the engine's `--version` must contain.
    const VERSION_MARKER: &'static str;
    /// What isolates the workload, for `describe()`.
    const BOUNDARY: &'static str;
    /// Where `io` instances get their directories.
    const IO_PLACE: IoPlace;
    /// Name of the single launch → ready phase, e.g. "unshare+exec".
    const PHASE: &'static str;

    /// Why this host cannot run the engine at all, checked before the engine binary.
    fn host_problem(host: &Host) -> Option<&'static str>;

    /// Adds the engine's own arguments, and any environment, to `command` (its environment
    /// already cleared); the probe's command line follows them.
    fn engine_args(command: &mut Command, prepared: &PreparedRootfs, io_dir: Option<&IoDir>);
}

/// A rootfs-based engine's isolator; everything engine-specific comes from `T`.
pub struct RootfsIsolator<T> {
    engine: Engine,
    /// The user's workload (`--rootfs`): its tree's copy is the rootfs.
    user: Option<Arc<UserWorkload>>,
    tool: PhantomData<fn() -> T>,
}

impl<T: RootfsTool> RootfsIsolator<T> {
    pub fn new(options: &IsolatorOptions) -> RootfsIsolator<T> {
        let spec = EngineSpec {
            name: T::NAME,
            program: T::NAME,
            install_hint: T::INSTALL_HINT,
            version_marker: T::VERSION_MARKER,
        };
        RootfsIsolator {
            engine: Engine::new(spec, options),
            user: options.user.clone(),
            tool: PhantomData,
        }
    }
}

impl<T: RootfsTool> Isolator for RootfsIsolator<T> {
    fn name(&self) -> &str {
        T::NAME
    }
    fn kind(&self) -> Kind {
        Kind::Container
    }
    fn describe(&self) -> Description {
        Description {
            boundary: T::BOUNDARY.into(),
            kernel: KernelKind::Shared,
            version: self.engine.version_text(),
            notes: Vec::new(),
        }
    }
    fn availability(&self, host: &Host) -> Availability {
        if let Some(refusal) = crate::instance_rootfs::host_root_refusal(self.user.as_deref()) {
            return refusal;
        }
        match T::host_problem(host) {
            Some(problem) => Availability::unavailable(problem),
            None => self.engine.availability(),
        }
    }
    fn prepare(&self, workload: &Workload, scratch: &Path) -> Result<Box<dyn Launcher>, Error> {
        let engine = self.engine.require()?;
        let user = self.user.as_deref();
        let prepared = PreparedRootfs::make(engine, workload, scratch, T::IO_PLACE, user)?;
        Ok(Box::new(RootfsLauncher::<T> {
            prepared,
            tool: PhantomData,
        }))
    }
}

/// A prepared rootfs engine: the rootfs and the engine every launch runs.
struct RootfsLauncher<T> {
    prepared: PreparedRootfs,
    tool: PhantomData<fn() -> T>,
}

impl<T: RootfsTool> Launcher for RootfsLauncher<T> {
    fn disk(&self) -> &DiskFootprint {
        &self.prepared.disk
    }
    fn launch(&mut self) -> Result<Box<dyn Instance>, Error> {
        let prepared = &self.prepared;
        let io_dir = prepared.io_dirs.as_ref().map(IoDirs::create).transpose()?;
        let channel = FdChannel::new()?;
        let mut command = Command::new(&prepared.engine);
        command.env_clear();
        T::engine_args(&mut command, prepared, io_dir.as_ref());
        command
            .arg(format!("/{PROBE_NAME}"))
            .args(["--mode", &prepared.workload.to_string()])
            .args(["--channel", &channel.probe_channel_arg()]);
        let cgroup = prepared.cgroups.create()?;
        let spawned = Spawned::spawn(&mut command, Some(channel), &prepared.scratch, cgroup)?;
        Ok(Box::new(RootfsInstance::new(spawned, T::PHASE, io_dir)))
    }
}

/// Where a rootfs-based engine's `io` instances get their directories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoPlace {
    /// `<scratch>/io/<instance>`, which the engine binds at /tmp.
    Scratch,
    /// `<rootfs>/tmp/<instance>`, seen as `/tmp/<instance>` inside a chroot into the rootfs.
    RootfsTmp,
}

/// What `prepare` leaves for launches of a rootfs-based engine.
pub struct PreparedRootfs {
    pub engine: PathBuf,
    pub rootfs: PathBuf,
    pub scratch: PathBuf,
    pub workload: Workload,
    /// Where `io` instances get their directories; `None` for other workloads.
    pub io_dirs: Option<IoDirs>,
    /// Writable tmpfs mounts a user workload gets (none for the probe alone).
    pub tmpfs_dirs: &'static [&'static str],
    /// Engine + rootfs on disk.
    pub disk: DiskFootprint,
    /// Each engine process starts in a cgroup of its own (no limits), so the namespaces it
    /// creates are charged where the memory sample reads them.
    pub cgroups: MeasuringCgroups,
}

impl PreparedRootfs {
    /// Writes the rootfs (the probe's, or the copy of the user's tree) and measures engine +
    /// rootfs.
    pub fn make(
        engine: PathBuf,
        workload: &Workload,
        scratch: &Path,
        io_place: IoPlace,
        user: Option<&UserWorkload>,
    ) -> Result<PreparedRootfs, Error> {
        let rootfs = crate::instance_rootfs::write(user, scratch)?;
        let disk = crate::instance_rootfs::disk(std::slice::from_ref(&engine), &rootfs, &[], user)?;
        let io_dirs = match io_place {
            _ if !workload.writes_files() => None,
            IoPlace::Scratch => Some(IoDirs::under(&scratch.join("io"))?),
            IoPlace::RootfsTmp => Some(IoDirs::under(&rootfs.join("tmp"))?),
        };
        Ok(PreparedRootfs {
            engine,
            rootfs,
            scratch: scratch.to_path_buf(),
            workload: *workload,
            io_dirs,
            tmpfs_dirs: crate::instance_rootfs::tmpfs_dirs(user),
            disk,
            cgroups: MeasuringCgroups::prepare(),
        })
    }
}

/// An instance that is exactly one engine process and what runs below it.
pub struct RootfsInstance {
    spawned: Spawned,
    /// Name of the single launch → ready phase, e.g. "unshare+exec".
    phase: &'static str,
    /// The `io` workload's directory; dropped after `spawned`, so after the probe is dead.
    io_dir: Option<IoDir>,
}

impl RootfsInstance {
    pub fn new(spawned: Spawned, phase: &'static str, io_dir: Option<IoDir>) -> RootfsInstance {
        RootfsInstance {
            spawned,
            phase,
            io_dir,
        }
    }
}

impl Instance for RootfsInstance {
    fn launched_ns(&self) -> u64 {
        self.spawned.launched_ns
    }
    fn wait_ready(&mut self, timeout: Duration) -> Result<Ready, Error> {
        self.spawned.wait_ready_phase(timeout, self.phase)
    }
    fn resources(&self) -> Resources {
        Resources {
            pids: self.spawned.processes(),
            paths: self.io_dir.iter().map(|d| d.path().to_path_buf()).collect(),
            cgroup: self.spawned.measuring_cgroup(),
            ..Default::default()
        }
    }
    fn cpu_ns(&self) -> Option<u64> {
        self.spawned.cpu_ns()
    }
    fn release(&mut self) -> Result<(), Error> {
        self.spawned.release();
        Ok(())
    }
    fn wait_gone(&mut self, timeout: Duration) -> Result<(), Error> {
        self.spawned.wait_gone_ok(timeout)?;
        self.io_dir.as_ref().map_or(Ok(()), IoDir::remove)
    }
}
