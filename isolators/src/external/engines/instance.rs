//! One container run by a CLI engine: the client we spawned, plus the daemon-side monitor
//! (containerd shim or conmon) and probe learnt from `inspect` after ready; shared daemons
//! (dockerd, containerd) are not counted.
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::cli_support::{cli, find_cgroup};
use crate::cgroup::CgroupMemorySource;
use crate::external::procs::{self, ProcessId};
use crate::external::spawned::Spawned;
use crate::io_dir::IoDir;
use crate::isolator::{Instance, Ready};
use crate::resources::Resources;
use crate::Error;

/// How long Drop lets a released instance end by itself before killing it.
const GRACEFUL_DROP: Duration = Duration::from_secs(10);

/// The daemon-side half of an instance, learnt from `docker inspect` after ready.
#[derive(Debug, Clone)]
struct Container {
    shim: Option<ProcessId>,
    probe: Option<ProcessId>,
    cgroup: Option<CgroupMemorySource>,
}

pub struct EngineInstance {
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

impl EngineInstance {
    pub fn new(
        spawned: Spawned,
        client: PathBuf,
        name: String,
        phase: String,
        cgroup_paths: fn(&str) -> Vec<String>,
        io_dir: Option<IoDir>,
    ) -> EngineInstance {
        EngineInstance {
            spawned,
            client,
            name,
            phase,
            cgroup_paths,
            container: OnceLock::new(),
            gone: false,
            io_dir,
        }
    }

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

impl Instance for EngineInstance {
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
            launcher_cgroup: self.spawned.measuring_cgroup(),
            paths: container
                .cgroup
                .iter()
                .map(|c| c.dir().to_path_buf())
                .chain(self.io_dir.iter().map(|d| d.path().to_path_buf()))
                .collect(),
            ..Default::default()
        }
    }
    fn cpu_ns(&self) -> Option<u64> {
        self.spawned.cpu_ns()
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

impl Drop for EngineInstance {
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
