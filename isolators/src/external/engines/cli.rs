//! The CLI-engine family: one [`CliIsolator`] over a [`CliProfile`] for docker-like clients
//! (`docker`, `podman`): `run --rm -i --network none` of an image imported from the probe
//! rootfs, ready on stdout (`--channel stdio`), released by a newline on stdin.
//!
//! Containers do not run `--read-only`, so their /tmp would be the image's writable overlay
//! layer. For the `io` workload each container instead gets its own host directory under the
//! scratch dir as `--mount type=bind,source=DIR,target=/tmp` ([`crate::io_dir`]), the same file
//! system every other isolator writes to (no tmpfs, no overlay copy-up). The engine makes the
//! bind, so it must see this host's file system: a remote engine (`DOCKER_HOST` or
//! `CONTAINER_HOST` on another machine) is refused for `io` in prepare. The bind is rw but, as
//! `--mount` offers no such options, not nosuid/nodev.
//!
//! A user workload (`--rootfs`) is imported from its rootfs copy (a tar stream into
//! `import -`) as an image of its own, named after this harness
//! (`isobench-<owner>-<n>-workload`), removed when the launcher is dropped (and, should
//! isobench be killed first, by the next user-workload prepare of the same engine, once the
//! owner in its name is gone); its containers run `--read-only` with a tmpfs at /tmp and
//! /run, as in every other isolator.
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::cli_support::{cli, executables, image_tag};
use super::instance::EngineInstance;
use crate::cgroup::MeasuringCgroups;
use crate::external::engine::{require_root, Engine, EngineSpec};
use crate::external::spawned::{unique_id, Spawned};
use crate::host::Host;
use crate::io_dir::{IoDirs, INSTANCE_TMP};
use crate::isolator::{
    Availability, Description, DiskFootprint, Instance, Isolator, KernelKind, Kind, Launcher,
    Workload,
};
use crate::options::IsolatorOptions;
use crate::probe::PROBE_NAME;
use crate::user_workload::UserWorkload;
use crate::Error;

/// How long `docker info` may take before we say no daemon answers.
const INFO_TIMEOUT: Duration = Duration::from_secs(3);

/// What distinguishes one docker-like command line from another.
pub struct CliProfile {
    /// The engine's name, client executable and how to get it.
    pub engine: EngineSpec,
    pub boundary: &'static str,
    pub notes: Vec<String>,
    /// Options for `run` besides `--rm -i --network none --name`.
    pub run_args: Vec<String>,
    /// Executables the engine runs through besides the client (for the disk footprint).
    pub helpers: &'static [&'static str],
    /// Whether `info` must answer (a daemon) for the engine to be available.
    pub needs_daemon: bool,
    /// Where the engine puts container `id`'s cgroup, relative to a hierarchy root.
    pub cgroup_paths: fn(&str) -> Vec<String>,
    /// The environment variable that points the client at a (possibly remote) engine.
    pub host_env: &'static str,
}

/// An isolator driving a docker-like client (`docker`, `podman`).
pub struct CliIsolator {
    profile: CliProfile,
    engine: Engine,
    server_version: OnceLock<Option<String>>,
    /// The user's workload (`--rootfs`): its tree's copy is imported as the image.
    user: Option<Arc<UserWorkload>>,
}

/// The image imported from the probe rootfs, ready for `run`.
struct CliLauncher {
    name: &'static str,
    run_args: Vec<String>,
    cgroup_paths: fn(&str) -> Vec<String>,
    disk: DiskFootprint,
    client: PathBuf,
    image: String,
    workload: Workload,
    scratch: PathBuf,
    /// Where `io` instances get their directories; `None` for other workloads.
    io_dirs: Option<IoDirs>,
    /// The client starts in a measuring cgroup; what the daemon allocates is not in it.
    cgroups: MeasuringCgroups,
    /// Writable tmpfs mounts a user workload gets (none for the probe alone).
    tmpfs_dirs: &'static [&'static str],
    /// Whether `image` is this launcher's own (a user workload's), removed on drop.
    owns_image: bool,
}

impl CliIsolator {
    pub fn new(profile: CliProfile, options: &IsolatorOptions) -> CliIsolator {
        CliIsolator {
            engine: Engine::new(profile.engine, options),
            profile,
            server_version: OnceLock::new(),
            user: options.user.clone(),
        }
    }

    /// The client's version line, plus the daemon's version where there is a daemon.
    fn version_text(&self) -> String {
        let client = self.engine.version_text();
        if !self.profile.needs_daemon {
            return client;
        }
        let server = self.server_version.get_or_init(|| {
            let path = self.engine.path().ok()?;
            let args = ["version", "--format", "{{.Server.Version}}"];
            cli(&path, &args, INFO_TIMEOUT).ok()
        });
        match server {
            Some(server) => format!("{client}; daemon {server}"),
            None => client,
        }
    }
}

impl Isolator for CliIsolator {
    fn name(&self) -> &str {
        self.profile.engine.name
    }
    fn kind(&self) -> Kind {
        Kind::Container
    }
    fn describe(&self) -> Description {
        Description {
            boundary: self.profile.boundary.into(),
            kernel: KernelKind::Shared,
            version: self.version_text(),
            notes: self.profile.notes.clone(),
        }
    }
    fn availability(&self, host: &Host) -> Availability {
        if let Some(refusal) = crate::instance_rootfs::host_root_refusal(self.user.as_deref()) {
            return refusal;
        }
        if let Some(unavailable) = require_root(host, self.profile.engine.name) {
            return unavailable;
        }
        if let Availability::Unavailable { reason } = self.engine.availability() {
            return Availability::unavailable(reason);
        }
        if !self.profile.needs_daemon {
            return Availability::Available;
        }
        let client = match self.engine.path() {
            Ok(path) => path,
            Err(reason) => return Availability::unavailable(reason),
        };
        match cli(&client, &["info", "--format", "{{.ServerVersion}}"], INFO_TIMEOUT) {
            Ok(_) => Availability::Available,
            Err(why) => Availability::unavailable(format!(
                "no Docker daemon answers ({why}) — start one: scripts/install-peers.sh --start-docker"
            )),
        }
    }
    fn prepare(&self, workload: &Workload, scratch: &Path) -> Result<Box<dyn Launcher>, Error> {
        let client = self.engine.require()?;
        if let Some(remote) =
            remote_engine(self.profile.host_env).filter(|_| workload.writes_files())
        {
            return Err(Error::BadInput(format!(
                "{}: the io workload bind-mounts a directory of this host at /tmp, but {}={remote} is not a local socket",
                self.profile.engine.name, self.profile.host_env
            )));
        }
        let user = self.user.as_deref();
        let executables = executables(client.clone(), self.profile.helpers);
        // Everything that can fail comes before the import: after it, only the launcher's drop
        // removes the image.
        let io_dirs = IoDirs::for_workload(workload, scratch)?;
        let cgroups = MeasuringCgroups::prepare();
        let (image, disk) = match user {
            None => {
                let tar = probe_image_tar(scratch)?;
                let image = image_tag();
                let timeout = Duration::from_secs(120);
                if cli(&client, &["image", "inspect", &image], timeout).is_err() {
                    cli(
                        &client,
                        &["import", &tar.to_string_lossy(), &image],
                        timeout,
                    )
                    .map_err(Error::Engine)?;
                }
                (image, crate::disk::measure(&executables, &[tar])?)
            }
            Some(user) => {
                remove_orphaned_workload_images(&client);
                let rootfs = crate::instance_rootfs::write(Some(user), scratch)?;
                let disk = crate::instance_rootfs::disk(&executables, &rootfs, &[], Some(user))?;
                let image = format!("{}{WORKLOAD_IMAGE_SUFFIX}", unique_id());
                import_tree(&client, &rootfs, &image)?;
                (image, disk)
            }
        };
        Ok(Box::new(CliLauncher {
            name: self.profile.engine.name,
            run_args: self.profile.run_args.clone(),
            cgroup_paths: self.profile.cgroup_paths,
            disk,
            client,
            image,
            workload: *workload,
            scratch: scratch.to_path_buf(),
            io_dirs,
            cgroups,
            tmpfs_dirs: crate::instance_rootfs::tmpfs_dirs(user),
            owns_image: user.is_some(),
        }))
    }
}

/// The probe's rootfs as `scratch/probe-image.tar`, for `import`.
fn probe_image_tar(scratch: &Path) -> Result<PathBuf, Error> {
    let rootfs = crate::probe::write_rootfs(scratch)?;
    let tar = scratch.join("probe-image.tar");
    let status = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .map_err(|e| Error::io("run tar", e))?;
    if !status.success() {
        return Err(Error::Engine(format!("tar of {} failed", rootfs.display())));
    }
    Ok(tar)
}

/// The end of a user workload's image name, `isobench-<owner tag>-<n>-workload`.
const WORKLOAD_IMAGE_SUFFIX: &str = "-workload";

/// Removes the user-workload images whose owner (the isobench named in them) is gone: what an
/// isobench killed before its launcher's drop left. Live owners' and foreign images stay.
fn remove_orphaned_workload_images(client: &Path) {
    let timeout = Duration::from_secs(60);
    let Ok(names) = cli(client, &["images", "--format", "{{.Repository}}"], timeout) else {
        return;
    };
    for name in names.lines().map(|n| n.rsplit('/').next().unwrap_or(n)) {
        let owned = name
            .strip_suffix(WORKLOAD_IMAGE_SUFFIX)
            .filter(|_| name.starts_with("isobench-"));
        let Some(claim) = owned.and_then(|body| crate::orphans::Claim::parse(body, false)) else {
            continue;
        };
        if claim.liveness() == crate::orphans::Liveness::Gone {
            if let Err(why) = cli(client, &["rmi", "--force", name], timeout) {
                eprintln!("isobench: cannot remove the orphaned image {name}: {why}");
            }
        }
    }
}

/// How long importing a user's tree may take (a few hundred MB through the daemon).
const IMPORT_TIMEOUT: Duration = Duration::from_secs(600);

/// `tar -C rootfs -c . | client import - image`: no tar file beside the tree. Both are killed
/// when the import outlasts [`IMPORT_TIMEOUT`].
fn import_tree(client: &Path, rootfs: &Path, image: &str) -> Result<(), Error> {
    let mut tar = Command::new("tar")
        .arg("-C")
        .arg(rootfs)
        .args(["--warning=no-file-changed", "-cf", "-", "."])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Error::io("run tar", e))?;
    let stream = tar.stdout.take().expect("tar's stdout is piped");
    let import = Command::new(client)
        .args(["import", "-", image])
        .stdin(stream)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut import = match import {
        Ok(import) => import,
        Err(e) => {
            let _ = tar.kill();
            let _ = tar.wait();
            return Err(Error::io(format!("run {} import", client.display()), e));
        }
    };
    let deadline = std::time::Instant::now() + IMPORT_TIMEOUT;
    while import.try_wait().ok().flatten().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = import.kill();
            let _ = tar.kill();
            let _ = (import.wait(), tar.wait());
            return Err(Error::timeout(
                format!(
                    "`{} import - {image}` of {}",
                    client.display(),
                    rootfs.display()
                ),
                IMPORT_TIMEOUT,
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let imported = import
        .wait_with_output()
        .map_err(|e| Error::io(format!("run {} import", client.display()), e))?;
    let tar_output = tar
        .wait_with_output()
        .map_err(|e| Error::io("run tar", e))?;
    let tar_status = tar_output.status;
    if !imported.status.success() {
        return Err(Error::Engine(format!(
            "`{} import - {image}` failed: {}",
            client.display(),
            String::from_utf8_lossy(&imported.stderr).trim()
        )));
    }
    // GNU tar's 1 means "a file changed while it was read": here only a file's ctime, when
    // another copy of the user's tree hard-linked the same inode meanwhile (another isolator's
    // prepare, or a test running beside this one); the copy's content is never written. Only
    // 2 and above mean the archive is incomplete.
    let tar_complete = tar_status.success() || tar_status.code() == Some(1);
    if !tar_complete {
        // The engine may have taken a truncated stream: that image must not stay.
        let _ = cli(client, &["rmi", "--force", image], Duration::from_secs(60));
        return Err(Error::Engine(format!(
            "tar of {} failed ({tar_status}): the tree has a file tar cannot read",
            rootfs.display()
        )));
    }
    Ok(())
}

impl Drop for CliLauncher {
    fn drop(&mut self) {
        if self.owns_image {
            let removed = cli(
                &self.client,
                &["rmi", "--force", &self.image],
                Duration::from_secs(60),
            );
            if let Err(why) = removed {
                eprintln!("isobench: cannot remove image {}: {why}", self.image);
            }
        }
    }
}

impl Launcher for CliLauncher {
    fn disk(&self) -> &DiskFootprint {
        &self.disk
    }
    fn launch(&mut self) -> Result<Box<dyn Instance>, Error> {
        let prepared = &*self;
        let name = unique_id();
        let io_dir = prepared.io_dirs.as_ref().map(IoDirs::create).transpose()?;
        let mut command = Command::new(&prepared.client);
        command
            .args(["run", "--rm", "-i", "--network", "none", "--name", &name])
            .args(&prepared.run_args);
        if let Some(dir) = &io_dir {
            let source = dir.path().display();
            command.arg(format!(
                "--mount=type=bind,source={source},target={INSTANCE_TMP}"
            ));
        }
        if !prepared.tmpfs_dirs.is_empty() {
            // A user workload's root is read-only here as in every other isolator.
            command.arg("--read-only");
        }
        for dir in prepared.tmpfs_dirs {
            command.args(["--tmpfs", dir]);
        }
        command
            .arg(&prepared.image)
            .arg(format!("/{PROBE_NAME}"))
            .args([
                "--channel",
                "stdio",
                "--mode",
                &prepared.workload.to_string(),
            ]);
        let cgroup = prepared.cgroups.create()?;
        let spawned = Spawned::spawn(&mut command, None, &prepared.scratch, cgroup)?;
        Ok(Box::new(EngineInstance::new(
            spawned,
            prepared.client.clone(),
            name,
            format!("{} run", prepared.name),
            prepared.cgroup_paths,
            io_dir,
        )))
    }
}

/// The value of `variable` when it points the client at something other than a local socket.
fn remote_engine(variable: &str) -> Option<String> {
    std::env::var(variable)
        .ok()
        .filter(|value| !value.is_empty() && !value.starts_with("unix://"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_non_unix_engine_addresses_are_remote() {
        let variable = "ISOBENCH_TEST_REMOTE_ENGINE";
        assert_eq!(super::remote_engine(variable), None);
        std::env::set_var(variable, "unix:///run/docker.sock");
        assert_eq!(super::remote_engine(variable), None);
        std::env::set_var(variable, "tcp://10.0.0.1:2375");
        assert_eq!(
            super::remote_engine(variable).as_deref(),
            Some("tcp://10.0.0.1:2375")
        );
        std::env::remove_var(variable);
    }
}
