//! LXC, the classic system-container tool (Debian's `lxc` 5.0): each instance is `lxc-start -F`
//! of a generated config in a private lxcpath (`<scratch>/lxc`), with the probe as the
//! container's init over the same read-only rootfs as every other container.
//!
//! Ready travels over the same inherited pipes as for crun and runc: `lxc-start` in the
//! foreground keeps inherited fds (it only logs "Inherited fd N" unless given
//! `--close-all-fds`) and the container's init inherits them, so the probe gets `--channel
//! fd:R,W`. The `lxc-start` process is LXC's monitor for the container's whole life: it is
//! counted with the probe in memory, and it starts in a measuring cgroup of its own, as the OCI
//! runtimes' `run` does, before LXC moves it to the instance's `monitor` cgroup.
//!
//! What isolates the workload, from the config ([`config::config_text`]): LXC's default
//! namespaces (mount, pid, uts, ipc, net with `lxc.net.0.type = empty`, cgroup), a cgroup in
//! every hierarchy, pivot_root into the rootfs mounted read-only, /proc (`proc:mixed`: /proc/sys
//! read-only) and a tmpfs /dev with LXC's minimal device nodes (`lxc.autodev`). No user
//! namespace (a privileged container), no capability drop and no seccomp profile (Debian's
//! templates add those through `common.conf`, which a generated config does not include), and
//! AppArmor's `lxc-container-default-cgns` profile where AppArmor is enabled.
pub mod config;
pub mod engine;
pub mod instance;

use std::path::{Path, PathBuf};
use std::process::Command;

pub use self::config::{cgroup_parent_dirs, CGROUP_PARENT};

use self::config::ConfigInputs;
use self::engine::LxcEngine;
use self::instance::LxcInstance;
use crate::cgroup::{CgroupLayout, MeasuringCgroups};
use crate::external::engine::require_root;
use crate::external::spawned::{unique_id, Spawned};
use crate::fdchannel::FdChannel;
use crate::host::Host;
use crate::io_dir::IoDirs;
use crate::isolator::{
    Availability, Description, DiskFootprint, Instance, Isolator, KernelKind, Kind, Launcher,
    Workload,
};
use crate::options::IsolatorOptions;
use crate::user_workload::UserWorkload;
use crate::Error;

/// What isolates the workload under the generated config.
pub const BOUNDARY: &str = "shared kernel + 6 namespaces (mount, pid, uts, ipc, net, cgroup) + cgroup + pivot_root (read-only rootfs); no seccomp, all capabilities";

/// The `lxc` isolator.
pub struct LxcIsolator {
    engine: LxcEngine,
    /// The user's workload (`--rootfs`): its tree's copy is the container's rootfs.
    user: Option<std::sync::Arc<UserWorkload>>,
}

impl LxcIsolator {
    pub fn new(options: &IsolatorOptions) -> LxcIsolator {
        LxcIsolator {
            engine: LxcEngine::new(options),
            user: options.user.clone(),
        }
    }

    /// Prepares the rootfs and the private lxcpath; [`Isolator::prepare`] boxes this.
    pub fn prepare_lxc(&self, workload: &Workload, scratch: &Path) -> Result<PreparedLxc, Error> {
        let user = self.user.as_deref();
        PreparedLxc::make(self.engine.require()?, workload, scratch, user)
    }
}

impl Isolator for LxcIsolator {
    fn name(&self) -> &str {
        engine::SPEC.name
    }
    fn kind(&self) -> Kind {
        Kind::Container
    }
    fn describe(&self) -> Description {
        let mut notes = Vec::new();
        if config::apparmor_enabled(Path::new("/sys")) {
            notes.push(format!(
                "AppArmor confines the container with LXC's {} profile",
                config::APPARMOR_PROFILE
            ));
        }
        Description {
            boundary: BOUNDARY.into(),
            kernel: KernelKind::Shared,
            version: self.engine.version_text(),
            notes,
        }
    }
    fn availability(&self, host: &Host) -> Availability {
        if let Some(refusal) = crate::instance_rootfs::host_root_refusal(self.user.as_deref()) {
            return refusal;
        }
        if let Some(unavailable) = require_root(host, engine::SPEC.name) {
            return unavailable;
        }
        match self.engine.availability() {
            Availability::Available => match config::host_problem(&CgroupLayout::detect()) {
                Some(problem) => Availability::unavailable(problem),
                None => Availability::Available,
            },
            unavailable => unavailable,
        }
    }
    fn prepare(&self, workload: &Workload, scratch: &Path) -> Result<Box<dyn Launcher>, Error> {
        Ok(Box::new(self.prepare_lxc(workload, scratch)?))
    }
}

/// The private lxcpath of an lxc isolator prepared in `scratch`.
pub fn lxcpath_in(scratch: &Path) -> PathBuf {
    scratch.join("lxc")
}

/// Containers (directories) left in an lxcpath: none between launches.
pub fn leftover_containers(lxcpath: &Path) -> Vec<String> {
    std::fs::read_dir(lxcpath)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// What `prepare` made: the rootfs, the private lxcpath and the measuring cgroups.
pub struct PreparedLxc {
    engine: PathBuf,
    rootfs: PathBuf,
    /// The private lxcpath, canonical (LXC names its lock directory after this string).
    pub lxcpath: PathBuf,
    scratch: PathBuf,
    workload: Workload,
    layout: CgroupLayout,
    io_dirs: Option<IoDirs>,
    /// A user workload's writable tmpfs mounts (none for the probe alone).
    tmpfs_dirs: &'static [&'static str],
    /// lxc-start with liblxc and the libraries it loads + rootfs + a sample config.
    disk: DiskFootprint,
    cgroups: MeasuringCgroups,
}

impl PreparedLxc {
    fn make(
        engine: PathBuf,
        workload: &Workload,
        scratch: &Path,
        user: Option<&UserWorkload>,
    ) -> Result<PreparedLxc, Error> {
        let rootfs = crate::instance_rootfs::write(user, scratch)?;
        let tmpfs_dirs = crate::instance_rootfs::tmpfs_dirs(user);
        let lxcpath = lxcpath_in(scratch);
        std::fs::create_dir_all(&lxcpath)
            .map_err(|e| Error::io(format!("create {}", lxcpath.display()), e))?;
        let lxcpath = lxcpath
            .canonicalize()
            .map_err(|e| Error::io(format!("resolve {}", lxcpath.display()), e))?;
        let io_dirs = IoDirs::for_workload(workload, scratch)?;
        let sample = scratch.join("lxc.conf");
        let sample_text = config::config_text(&ConfigInputs {
            name: "sample",
            rootfs: &rootfs,
            workload,
            channel: "fd:3,4",
            tmp: io_dirs.as_ref().map(IoDirs::parent),
            tmpfs_dirs,
        });
        std::fs::write(&sample, sample_text)
            .map_err(|e| Error::io(format!("write {}", sample.display()), e))?;
        let executables = std::slice::from_ref(&engine);
        let disk = crate::instance_rootfs::disk(executables, &rootfs, &[sample], user)?;
        Ok(PreparedLxc {
            engine,
            rootfs,
            lxcpath,
            scratch: scratch.to_path_buf(),
            workload: *workload,
            layout: CgroupLayout::detect(),
            io_dirs,
            tmpfs_dirs,
            disk,
            cgroups: MeasuringCgroups::prepare(),
        })
    }

    /// Writes the container's config and starts `lxc-start -F`; the launch stamp is inside
    /// [`Spawned::spawn`].
    pub fn launch_lxc(&self) -> Result<LxcInstance, Error> {
        let name = unique_id();
        let container_dir = self.lxcpath.join(&name);
        let io_dir = self.io_dirs.as_ref().map(IoDirs::create).transpose()?;
        let channel = FdChannel::new()?;
        let mut instance = LxcInstance {
            spawned: None,
            container_dir: container_dir.clone(),
            lock_file: config::lock_file(&self.lxcpath, &name),
            memory: config::memory_source(&self.layout, &name),
            every_cgroup_dir: config::every_cgroup_dir(&name),
            io_dir,
            name,
        };
        let text = config::config_text(&ConfigInputs {
            name: &instance.name,
            rootfs: &self.rootfs,
            workload: &self.workload,
            channel: &channel.probe_channel_arg(),
            tmp: instance.io_dir.as_ref().map(|d| d.path()),
            tmpfs_dirs: self.tmpfs_dirs,
        });
        std::fs::create_dir(&container_dir)
            .map_err(|e| Error::io(format!("create {}", container_dir.display()), e))?;
        let config_path = container_dir.join("config");
        std::fs::write(&config_path, text)
            .map_err(|e| Error::io(format!("write {}", config_path.display()), e))?;
        let mut command = Command::new(&self.engine);
        command
            .arg("--foreground")
            .arg("--lxcpath")
            .arg(&self.lxcpath)
            .arg("--name")
            .arg(&instance.name)
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            );
        let cgroup = self.cgroups.create()?;
        instance.spawned = Some(Spawned::spawn(
            &mut command,
            Some(channel),
            &self.scratch,
            cgroup,
        )?);
        Ok(instance)
    }
}

impl Launcher for PreparedLxc {
    fn disk(&self) -> &DiskFootprint {
        &self.disk
    }
    fn launch(&mut self) -> Result<Box<dyn Instance>, Error> {
        Ok(Box::new(self.launch_lxc()?))
    }
}

impl Drop for PreparedLxc {
    fn drop(&mut self) {
        // The shared parent cgroup (busy while another launcher's instances live: then it stays).
        for dir in config::cgroup_parent_dirs() {
            let _ = std::fs::remove_dir(dir);
        }
        let _ = std::fs::remove_dir(&self.lxcpath);
        // LXC's lock directory for our lxcpath, and its parents up to /run/lxc/lock while empty.
        let root = Path::new(config::LOCK_ROOT);
        let mut dir = config::lock_dir(&self.lxcpath);
        while dir.starts_with(root) && dir != root && std::fs::remove_dir(&dir).is_ok() {
            let Some(parent) = dir.parent() else { break };
            dir = parent.to_path_buf();
        }
    }
}
