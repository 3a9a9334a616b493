//! Docker (and, with another [`CliProfile`], Podman): `run --rm -i --network none` of an image
//! imported from the probe rootfs. The probe reports ready on stdout (`--channel stdio`) and is
//! released by a newline on stdin. An instance is the client we spawn plus the container's
//! monitor (containerd shim, or conmon for Podman) and the probe; shared daemons (dockerd,
//! containerd) are not counted.
//!
//! Containers do not run `--read-only`, so their /tmp would be the image's writable overlay
//! layer. For the `io` workload each container instead gets its own host directory under the
//! scratch dir as `--mount type=bind,source=DIR,target=/tmp` ([`crate::io_dir`]), the same file
//! system every other isolator writes to (no tmpfs, no overlay copy-up). The engine makes the
//! bind, so it must see this host's file system: a remote engine (`DOCKER_HOST` or
//! `CONTAINER_HOST` on another machine) is refused for `io` in prepare. The bind is rw but, as
//! `--mount` offers no such options, not nosuid/nodev.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::cli_support::{cli, executables, find_cgroup};
pub use super::cli_support::{image_tag, leftover_containers};
use super::engine::Engine;
use super::procs::{self, ProcessId};
use super::spawned::{unique_id, Spawned};
use crate::disk::DiskFootprint;
use crate::host::Host;
use crate::io_dir::{IoDir, IoDirs, INSTANCE_TMP};
use crate::isolator::{
    Availability, Description, Instance, Isolator, KernelKind, Kind, Ready, Resources,
};
use crate::memory::CgroupMemorySource;
use crate::probe::{write_rootfs, Workload, PROBE_NAME};
use crate::registry::RegistryOptions;
use crate::Error;

/// How long `docker info` may take before we say no daemon answers.
const INFO_TIMEOUT: Duration = Duration::from_secs(3);
/// How long Drop lets a released instance end by itself before killing it.
const GRACEFUL_DROP: Duration = Duration::from_secs(10);

/// What distinguishes one docker-like command line from another.
pub struct CliProfile {
    pub name: &'static str,
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
    prepared: Option<Prepared>,
}

struct Prepared {
    client: PathBuf,
    image: String,
    workload: Workload,
    scratch: PathBuf,
    /// Where `io` instances get their directories; `None` for other workloads.
    io_dirs: Option<IoDirs>,
}

impl CliIsolator {
    pub fn new(profile: CliProfile, engine: Engine) -> CliIsolator {
        CliIsolator {
            profile,
            engine,
            server_version: OnceLock::new(),
            prepared: None,
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

/// Docker through its client; needs a running daemon.
pub fn docker(options: &RegistryOptions) -> CliIsolator {
    let profile = CliProfile {
        name: "docker",
        boundary: "shared kernel + namespaces + cgroup, via dockerd → containerd → shim → runc",
        notes: vec![
            "--network none; memory counts client + shim + probe, not the shared daemons".into(),
        ],
        run_args: Vec::new(),
        helpers: &["dockerd", "containerd", "containerd-shim-runc-v2", "runc"],
        needs_daemon: true,
        cgroup_paths: |id| {
            vec![
                format!("docker/{id}"),
                format!("system.slice/docker-{id}.scope"),
            ]
        },
        host_env: "DOCKER_HOST",
    };
    let engine = Engine::new(
        "docker",
        "docker",
        "apt-get install docker.io",
        "docker version",
        options,
    );
    CliIsolator::new(profile, engine)
}

impl Isolator for CliIsolator {
    fn name(&self) -> &str {
        self.profile.name
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
        if !host.is_root {
            return Availability::unavailable(format!(
                "{} runs here as root only (rootless set-up is not isobench's job) — run isobench as root",
                self.profile.name
            ));
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
    fn prepare(&mut self, workload: &Workload, scratch: &Path) -> Result<DiskFootprint, Error> {
        let client = self.engine.require()?;
        if let Some(remote) =
            remote_engine(self.profile.host_env).filter(|_| workload.writes_files())
        {
            return Err(Error::BadInput(format!(
                "{}: the io workload bind-mounts a directory of this host at /tmp, but {}={remote} is not a local socket",
                self.profile.name, self.profile.host_env
            )));
        }
        let rootfs = write_rootfs(scratch)?;
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
        let footprint =
            DiskFootprint::measure(&executables(client.clone(), self.profile.helpers), &[tar])?;
        self.prepared = Some(Prepared {
            client,
            image,
            workload: workload.clone(),
            scratch: scratch.to_path_buf(),
            io_dirs: IoDirs::for_workload(workload, scratch)?,
        });
        Ok(footprint)
    }
    fn launch(&mut self) -> Result<Box<dyn Instance>, Error> {
        let prepared = self.prepared.as_ref().ok_or_else(|| {
            Error::BadInput(format!("{}: launch before prepare", self.profile.name))
        })?;
        let name = unique_id();
        let io_dir = prepared.io_dirs.as_ref().map(IoDirs::create).transpose()?;
        let mut command = Command::new(&prepared.client);
        command
            .args(["run", "--rm", "-i", "--network", "none", "--name", &name])
            .args(&self.profile.run_args);
        if let Some(dir) = &io_dir {
            let source = dir.path().display();
            command.arg(format!(
                "--mount=type=bind,source={source},target={INSTANCE_TMP}"
            ));
        }
        command
            .arg(&prepared.image)
            .arg(format!("/{PROBE_NAME}"))
            .args(["--channel", "stdio", "--mode", &prepared.workload.mode]);
        let spawned = Spawned::spawn(&mut command, None, &prepared.scratch)?;
        Ok(Box::new(DockerInstance {
            spawned,
            client: prepared.client.clone(),
            name,
            phase: format!("{} run", self.profile.name),
            cgroup_paths: self.profile.cgroup_paths,
            container: OnceLock::new(),
            gone: false,
            io_dir,
        }))
    }
}

/// The daemon-side half of an instance, learnt from `docker inspect` after ready.
#[derive(Debug, Clone)]
struct Container {
    shim: Option<ProcessId>,
    probe: Option<ProcessId>,
    cgroup: Option<CgroupMemorySource>,
}

struct DockerInstance {
    spawned: Spawned,
    client: PathBuf,
    name: String,
    phase: String,
    cgroup_paths: fn(&str) -> Vec<String>,
    container: OnceLock<Container>,
    gone: bool,
    /// The `io` workload's host directory (bound at /tmp); dropped after Drop's clean-up.
    io_dir: Option<IoDir>,
}

impl DockerInstance {
    fn container(&self) -> &Container {
        self.container.get_or_init(|| {
            let format = "{{.State.Pid}} {{.Id}}";
            let said = cli(
                &self.client,
                &["inspect", "--format", format, &self.name],
                Duration::from_secs(10),
            )
            .unwrap_or_default();
            let mut words = said.split_whitespace();
            let probe_pid = words
                .next()
                .and_then(|p| p.parse::<i32>().ok())
                .filter(|&p| p > 0);
            let id = words.next().unwrap_or_default().to_string();
            let probe = probe_pid.and_then(ProcessId::of);
            let shim = probe_pid.and_then(procs::parent_of).and_then(ProcessId::of);
            Container {
                shim,
                probe,
                cgroup: if id.is_empty() {
                    None
                } else {
                    find_cgroup(&(self.cgroup_paths)(&id))
                },
            }
        })
    }
}

impl Instance for DockerInstance {
    fn launched_ns(&self) -> u64 {
        self.spawned.launched_ns
    }
    fn wait_ready(&mut self, timeout: Duration) -> Result<Ready, Error> {
        self.spawned.wait_ready_phase(timeout, &self.phase)
    }
    fn resources(&self) -> Resources {
        let mut pids = self.spawned.processes();
        let container = self.container();
        if let Some(shim) = container.shim.filter(ProcessId::is_alive) {
            pids.extend(procs::descendants(shim.pid));
        } else if let Some(probe) = container.probe.filter(ProcessId::is_alive) {
            pids.push(probe.pid);
        }
        pids.sort_unstable();
        pids.dedup();
        Resources {
            pids,
            cgroup: container.cgroup.clone(),
            paths: container
                .cgroup
                .iter()
                .map(|c| c.dir().to_path_buf())
                .chain(self.io_dir.iter().map(|d| d.path().to_path_buf()))
                .collect(),
            ..Default::default()
        }
    }
    fn release(&mut self) -> Result<(), Error> {
        // Learn the daemon-side processes before they go, so wait_gone can check them.
        let _ = self.container();
        self.spawned.release();
        Ok(())
    }
    fn wait_gone(&mut self, timeout: Duration) -> Result<(), Error> {
        let started = Instant::now();
        self.spawned.wait_gone_ok(timeout)?;
        let container = self.container().clone();
        let daemon_side: Vec<ProcessId> =
            container.shim.into_iter().chain(container.probe).collect();
        let left = timeout.saturating_sub(started.elapsed());
        // `docker run --rm` returns once the daemon removed the container (wait condition
        // "removed"), so no `docker ps` round trip is needed here; tests check it.
        procs::wait_all_gone(&daemon_side, left, "the container's shim and probe to exit")?;
        if let Some(dir) = &self.io_dir {
            dir.remove()?;
        }
        self.gone = true;
        Ok(())
    }
}

impl Drop for DockerInstance {
    fn drop(&mut self) {
        if self.gone {
            return;
        }
        // Killing a client half-way through `run` can orphan what it started (Podman's conmon
        // and `runc init`). Release first: the engine then starts, ends and removes the
        // container by itself; kill only what does not finish in time.
        self.spawned.release();
        let deadline = Instant::now() + GRACEFUL_DROP;
        while Instant::now() < deadline && matches!(self.spawned.try_reap(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.spawned.kill();
        for monitor in procs::with_argument(&self.name) {
            procs::kill_all(&procs::identify(&procs::descendants(monitor)));
        }
        let _ = cli(&self.client, &["rm", "-f", &self.name], GRACEFUL_DROP);
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
