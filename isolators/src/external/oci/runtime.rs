//! Shared OCI runtime adapter (runc, crun, runsc): the bundle (config.json built with
//! oci-spec over the probe rootfs), `run` in the foreground with the probe's pipes preserved as
//! fds 3 and 4, a private `--root` state directory, and delete-on-drop. For the `io` workload
//! each container gets its own host directory as a read-write `bind` mount at /tmp
//! ([`crate::io_dir`]); under runsc the gofer serves it, and that cost is part of the figure.
//!
//! Why foreground `run`: it is create + start in one command, and the runtime stays the
//! container's parent until the probe exits (as `docker run` does), so launch → ready is what a
//! user's `run` costs until the workload runs. `run --detach` does the same work and then
//! exits; the ready signal comes from the probe either way.
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::bundle::{
    all_cgroup_dirs, memory_cgroup, probe_spec, OciChannel, CGROUP_PARENT, READY_FD, RELEASE_FD,
};
use super::instance::OciInstance;
use crate::cgroup::{CgroupLayout, MeasuringCgroups};
use crate::external::spawned::{unique_id, Spawned};
use crate::fdchannel::FdChannel;
use crate::io_dir::{IoDir, IoDirs};
use crate::isolator::{DiskFootprint, Instance, Launcher, Workload};
use crate::user_workload::UserWorkload;
use crate::Error;

/// How one runtime differs from the others.
#[derive(Debug, Clone)]
pub struct Flavor {
    /// Options before the subcommand, besides `--root`.
    pub global_args: Vec<String>,
    /// Hide the cgroup2 mount of a hybrid host from the runtime (crun refuses hybrid hosts).
    pub hide_unified: Option<PathBuf>,
    pub channel: OciChannel,
}

/// `engine <global> --root <state>`: how every runtime command of one isolator starts.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub engine: PathBuf,
    pub flavor: Flavor,
    pub state_root: PathBuf,
}

impl Runtime {
    /// `engine <global> --root <state> <args>`, hiding the cgroup2 mount when asked.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.engine);
        command
            .args(&self.flavor.global_args)
            .arg("--root")
            .arg(&self.state_root)
            .args(args)
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            );
        if let Some(unified) = self.flavor.hide_unified.clone() {
            let target = std::ffi::CString::new(unified.as_os_str().as_encoded_bytes())
                .expect("a mount path has no NUL");
            // SAFETY: the hook runs between fork and exec and only makes raw system calls.
            unsafe {
                command.pre_exec(move || hide_mount(&target));
            }
        }
        command
    }

    /// `delete --force <id>`; the error is the runtime's stderr.
    pub fn force_delete(&self, id: &str) -> Result<(), String> {
        let output = self
            .command(&["delete", "--force", id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| e.to_string())?;
        if output.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
        }
    }
}

/// The runtime's state directory (`--root`) for a runtime prepared in `scratch`.
pub fn state_root_in(scratch: &Path) -> PathBuf {
    scratch.join("oci-state")
}

/// Container ids left in a runtime's state directory (none between launches).
pub fn leftover_containers(state_root: &Path) -> Vec<String> {
    std::fs::read_dir(state_root)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// What `prepare` made: the rootfs and a private state directory.
pub struct PreparedOci {
    pub runtime: Runtime,
    pub rootfs: PathBuf,
    pub workload: Workload,
    pub scratch: PathBuf,
    pub bundles: PathBuf,
    pub cgroup: CgroupLayout,
    /// Where `io` instances get their directories; `None` for other workloads.
    pub io_dirs: Option<IoDirs>,
    /// Writable tmpfs mounts a user workload gets (none for the probe alone).
    pub tmpfs_dirs: &'static [&'static str],
    /// Runtime + rootfs + a sample config.json on disk.
    pub disk: DiskFootprint,
    /// Each `run` process starts in a measuring cgroup of its own: the namespaces and
    /// structures the runtime creates before the container's cgroup exists are charged there.
    pub cgroups: MeasuringCgroups,
}

impl PreparedOci {
    /// Writes the rootfs (the probe's, or the copy of the user's tree), creates the state and
    /// bundle directories, measures the footprint of `executables` (the runtime and anything
    /// it execs) plus rootfs and a sample config.json.
    pub fn make(
        engine: PathBuf,
        flavor: Flavor,
        executables: &[PathBuf],
        workload: &Workload,
        scratch: &Path,
        user: Option<&UserWorkload>,
    ) -> Result<PreparedOci, Error> {
        let rootfs = crate::instance_rootfs::write(user, scratch)?;
        let tmpfs_dirs = crate::instance_rootfs::tmpfs_dirs(user);
        let state_root = state_root_in(scratch);
        let bundles = scratch.join("oci-bundles");
        for dir in [&state_root, &bundles] {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
        }
        let io_dirs = IoDirs::for_workload(workload, scratch)?;
        let sample = scratch.join("config.json");
        let sample_tmp = io_dirs.as_ref().map(IoDirs::parent);
        probe_spec(
            &rootfs,
            workload,
            flavor.channel,
            "/sample",
            sample_tmp,
            tmpfs_dirs,
        )?
        .save(&sample)
        .map_err(|e| Error::Engine(format!("write {}: {e}", sample.display())))?;
        let disk = crate::instance_rootfs::disk(executables, &rootfs, &[sample], user)?;
        Ok(PreparedOci {
            runtime: Runtime {
                engine,
                flavor,
                state_root,
            },
            rootfs,
            workload: *workload,
            scratch: scratch.to_path_buf(),
            bundles,
            cgroup: CgroupLayout::detect(),
            io_dirs,
            tmpfs_dirs,
            disk,
            cgroups: MeasuringCgroups::prepare(),
        })
    }

    /// Starts `run` for a new container; the caller's stamp is inside `Spawned::spawn`.
    pub fn launch_oci(&self) -> Result<OciInstance, Error> {
        let id = unique_id();
        let bundle = self.bundles.join(&id);
        std::fs::create_dir(&bundle)
            .map_err(|e| Error::io(format!("create {}", bundle.display()), e))?;
        let cgroups_path = format!("/{CGROUP_PARENT}/{id}");
        let channel_kind = self.runtime.flavor.channel;
        let io_dir = self.io_dirs.as_ref().map(IoDirs::create).transpose()?;
        let tmp = io_dir.as_ref().map(IoDir::path);
        probe_spec(
            &self.rootfs,
            &self.workload,
            channel_kind,
            &cgroups_path,
            tmp,
            self.tmpfs_dirs,
        )?
        .save(bundle.join("config.json"))
        .map_err(|e| Error::Engine(format!("write {}/config.json: {e}", bundle.display())))?;
        let bundle_arg = bundle.to_string_lossy().to_string();
        let mut args = vec!["run", "--bundle", &bundle_arg];
        let fd_channel = match channel_kind {
            OciChannel::PreservedFds => {
                args.extend(["--preserve-fds", "2"]);
                Some(FdChannel::new()?)
            }
            OciChannel::Stdio => None,
        };
        args.push(&id);
        let mut command = self.runtime.command(&args);
        if let Some(channel) = &fd_channel {
            let (release, ready) = (channel.child_release_fd(), channel.child_ready_fd());
            // SAFETY: the hook runs between fork and exec and only calls fcntl/dup2/close.
            unsafe {
                command.pre_exec(move || place_channel_fds(release, ready));
            }
        }
        let cgroup_dirs = memory_cgroup(&self.cgroup, &cgroups_path);
        let every_cgroup_dir = all_cgroup_dirs(&cgroups_path);
        let mut instance = OciInstance {
            spawned: None,
            id,
            bundle,
            cgroup_dirs,
            every_cgroup_dir,
            runtime: self.runtime.clone(),
            io_dir,
        };
        let cgroup = self.cgroups.create()?;
        instance.spawned = Some(Spawned::spawn(
            &mut command,
            fd_channel,
            &self.scratch,
            cgroup,
        )?);
        Ok(instance)
    }
}

/// Moves the probe's pipe ends to fds 3 and 4 (via high numbers, so neither clobbers the other).
fn place_channel_fds(release: RawFd, ready: RawFd) -> std::io::Result<()> {
    // SAFETY: plain fd system calls on descriptors this (forked) process owns.
    unsafe {
        let high_release = libc::fcntl(release, libc::F_DUPFD, 100);
        let high_ready = libc::fcntl(ready, libc::F_DUPFD, 100);
        if high_release < 0
            || high_ready < 0
            || libc::dup2(high_release, RELEASE_FD) < 0
            || libc::dup2(high_ready, READY_FD) < 0
        {
            return Err(std::io::Error::last_os_error());
        }
        libc::close(high_release);
        libc::close(high_ready);
    }
    Ok(())
}

/// In a private mount namespace, lazily unmounts `target` (the hybrid host's cgroup2 mount).
fn hide_mount(target: &std::ffi::CStr) -> std::io::Result<()> {
    // SAFETY: raw unshare/mount/umount2 with valid NUL-terminated strings.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let root = c"/";
        let none = c"none";
        if libc::mount(
            none.as_ptr(),
            root.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
            || libc::umount2(target.as_ptr(), libc::MNT_DETACH) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

impl Launcher for PreparedOci {
    fn disk(&self) -> &DiskFootprint {
        &self.disk
    }
    fn launch(&mut self) -> Result<Box<dyn Instance>, Error> {
        Ok(Box::new(self.launch_oci()?))
    }
}

impl Drop for PreparedOci {
    fn drop(&mut self) {
        super::bundle::remove_empty_cgroup_parents();
    }
}
