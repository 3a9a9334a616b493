//! `firecracker-restore`: Firecracker's own snapshot restore, the peer of `microvm-restore`.
//!
//! `prepare` boots the bare guest once in Firecracker with its API socket, waits for the
//! guest's ready line, pauses the VM (`PATCH /vm`) and writes a full snapshot
//! (`PUT /snapshot/create`: `vm.snap` for the state, `vm.mem` for guest memory), then stops
//! that Firecracker. Each launch is a new `firecracker --api-sock` process loading the snapshot
//! with `PUT /snapshot/load` and `resume_vm: true`, which Firecracker answers once the vCPU is
//! resumed; that answer is ready. The guest was snapshotted asleep in `hlt`, waiting for its
//! release byte, so it prints nothing on resume; its sign of life is at release: it takes the
//! serial interrupt, powers off, and Firecracker exits 0 (checked by `wait_gone`).
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::wait::WaitStatus;

use super::api_socket;
use super::firecracker::{firecracker_config, Firecracker};
use super::profile::VmmProfile;
use crate::cgroup::MeasuringCgroups;
use crate::external::engine::Engine;
use crate::external::spawned::Spawned;
use crate::host::Host;
use crate::isolator::{
    monotonic_ns, Availability, Description, DiskFootprint, GuestKind, Instance, Isolator,
    KernelKind, Kind, Launcher, Ready, Workload,
};
use crate::microvm::guest::{BareWork, GuestImage};
use crate::options::IsolatorOptions;
use crate::resources::{GuestRam, Resources};
use crate::Error;
use isobench_protocol::{Mode, DEFAULT_GUEST_MEM_MIB, READY_MARKER};

const SNAPSHOT_STEP_TIMEOUT: Duration = Duration::from_secs(30);
const STATE_FILE: &str = "vm.snap";
const MEMORY_FILE: &str = "vm.mem";
/// Longest Unix socket path (sun_path is 108 bytes with its NUL).
const SOCKET_PATH_MAX: usize = 107;

pub struct FirecrackerRestoreIsolator {
    engine: Engine,
    mem_mib: u32,
    /// A user workload was given: the restored bare guest cannot run it.
    has_user_workload: bool,
}

pub fn firecracker_restore(options: &IsolatorOptions) -> FirecrackerRestoreIsolator {
    FirecrackerRestoreIsolator {
        engine: Engine::for_isolator(Firecracker.engine(), "firecracker-restore", options),
        mem_mib: options.vm_mem_mib.unwrap_or(DEFAULT_GUEST_MEM_MIB),
        has_user_workload: options.user.is_some(),
    }
}

fn socket_path(dir: &Path, name: &str) -> Result<PathBuf, Error> {
    let path = dir.join(name);
    match path.as_os_str().len() {
        len if len > SOCKET_PATH_MAX => Err(Error::BadInput(format!(
            "{}: too long for a Unix socket ({len} bytes, at most {SOCKET_PATH_MAX}) — set TMPDIR to a shorter directory",
            path.display()
        ))),
        _ => Ok(path),
    }
}

/// A Firecracker we started to take the snapshot; killed and reaped however prepare ends.
struct SnapshotVmm(Child);

impl Drop for SnapshotVmm {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Boots the guest in Firecracker with an API socket, and snapshots it once it is ready.
fn take_snapshot(vmm: &Path, guest: &GuestImage, scratch: &Path) -> Result<(), Error> {
    let config = scratch.join("firecracker-snapshot.json");
    let text = serde_json::to_string(&firecracker_config(guest))
        .map_err(|e| Error::Engine(format!("firecracker config: {e}")))?;
    std::fs::write(&config, text).map_err(|e| Error::io(config.display().to_string(), e))?;
    let socket = socket_path(scratch, "snapshot.sock")?;
    let mut child = Command::new(vmm)
        .arg("--api-sock")
        .arg(&socket)
        .arg("--config-file")
        .arg(&config)
        .args(["--level", "Error"])
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Error::io(format!("spawn {}", vmm.display()), e))?;
    let stdout = child.stdout.take();
    let mut vmm_process = SnapshotVmm(child);
    // The ready line, read on a thread so that a silent guest meets the deadline.
    let (sender, ready) = std::sync::mpsc::channel();
    if let Some(stdout) = stdout {
        std::thread::spawn(move || {
            let found = BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .any(|line| line.starts_with(READY_MARKER));
            let _ = sender.send(found);
        });
    }
    match ready.recv_timeout(SNAPSHOT_STEP_TIMEOUT) {
        Ok(true) => {}
        _ => {
            return Err(Error::Engine(format!(
                "firecracker: the bare guest printed no {READY_MARKER} line before the snapshot"
            )))
        }
    }
    let deadline = Instant::now() + SNAPSHOT_STEP_TIMEOUT;
    let mut api = api_socket::connect(&socket, deadline)?;
    api_socket::expect_success(
        &mut api,
        "PATCH",
        "/vm",
        r#"{"state":"Paused"}"#,
        SNAPSHOT_STEP_TIMEOUT,
    )?;
    let create = serde_json::json!({
        "snapshot_type": "Full",
        "snapshot_path": scratch.join(STATE_FILE),
        "mem_file_path": scratch.join(MEMORY_FILE),
    });
    api_socket::expect_success(
        &mut api,
        "PUT",
        "/snapshot/create",
        &create.to_string(),
        SNAPSHOT_STEP_TIMEOUT,
    )?;
    let _ = vmm_process.0.kill();
    let _ = vmm_process.0.wait();
    let _ = std::fs::remove_file(&socket);
    Ok(())
}

impl Isolator for FirecrackerRestoreIsolator {
    fn name(&self) -> &str {
        "firecracker-restore"
    }
    fn kind(&self) -> Kind {
        Kind::Microvm
    }
    fn warm_start(&self) -> bool {
        true
    }
    fn guest(&self) -> GuestKind {
        GuestKind::Bare
    }
    fn describe(&self) -> Description {
        Description {
            boundary: "own guest (bare PVH code, no OS) + KVM hardware virtualization, restored from a snapshot; VMM: Firecracker".into(),
            kernel: KernelKind::Own,
            version: self.engine.version_text(),
            notes: vec![
                "warm start: --api-sock, PUT /snapshot/load with resume_vm; ready is Firecracker's answer (the guest sleeps in hlt until released)".into(),
            ],
        }
    }
    fn availability(&self, host: &Host) -> Availability {
        if self.has_user_workload {
            return Availability::unavailable(crate::microvm::user_guest::bare_guest_refusal());
        }
        if let Some(problem) = &host.kvm.problem {
            return Availability::unavailable(problem.clone());
        }
        self.engine.availability()
    }
    fn prepare(&self, workload: &Workload, scratch: &Path) -> Result<Box<dyn Launcher>, Error> {
        if !matches!(workload.mode, Mode::Noop) || workload.startup_delay_us > 0 {
            return Err(Error::BadInput(format!(
                "firecracker-restore resumes the bare guest after its ready point; it runs workload noop only, not {workload}"
            )));
        }
        let vmm = self.engine.require()?;
        let guest = GuestImage::bare(&BareWork::Noop, self.mem_mib, scratch)?;
        // The scratch dir is this launcher's own, so a counter names each launch's socket; the
        // longest name it will take is checked here, before any launch.
        socket_path(scratch, &launch_socket_name(u32::MAX))?;
        take_snapshot(&vmm, &guest, scratch)?;
        let image = [scratch.join(STATE_FILE), scratch.join(MEMORY_FILE)];
        let disk = crate::disk::measure(std::slice::from_ref(&vmm), &image)?;
        Ok(Box::new(RestoreLauncher {
            vmm,
            scratch: scratch.to_path_buf(),
            mem_mib: guest.mem_mib,
            disk,
            cgroups: MeasuringCgroups::prepare(),
            launches: 0,
        }))
    }
}

/// The API socket of launch `n`, inside the launcher's scratch dir: short, since sun_path
/// holds 107 bytes and the scratch dir's name already carries the owner tag.
fn launch_socket_name(n: u32) -> String {
    format!("api-{n}.sock")
}

struct RestoreLauncher {
    vmm: PathBuf,
    scratch: PathBuf,
    launches: u32,
    mem_mib: u32,
    disk: DiskFootprint,
    cgroups: MeasuringCgroups,
}

impl Launcher for RestoreLauncher {
    fn disk(&self) -> &DiskFootprint {
        &self.disk
    }
    fn launch(&mut self) -> Result<Box<dyn Instance>, Error> {
        self.launches = self.launches.wrapping_add(1);
        let socket = socket_path(&self.scratch, &launch_socket_name(self.launches))?;
        let mut command = Command::new(&self.vmm);
        command
            .arg("--api-sock")
            .arg(&socket)
            .args(["--level", "Error"])
            .env_clear();
        let cgroup = self.cgroups.create()?;
        let spawned = Spawned::spawn(&mut command, None, &self.scratch, cgroup)?;
        Ok(Box::new(RestoreInstance {
            spawned,
            socket,
            state: self.scratch.join(STATE_FILE),
            memory: self.scratch.join(MEMORY_FILE),
            mem_bytes: u64::from(self.mem_mib) << 20,
        }))
    }
}

struct RestoreInstance {
    spawned: Spawned,
    socket: PathBuf,
    state: PathBuf,
    memory: PathBuf,
    mem_bytes: u64,
}

/// Firecracker's mapping of the snapshot's memory file: (start, length).
fn find_file_mapping(smaps: &str, file: &Path, bytes: u64) -> Option<(u64, u64)> {
    let file = file.to_string_lossy();
    smaps.lines().find_map(|line| {
        let (range, rest) = line.split_once(' ')?;
        let (start, end) = range.split_once('-')?;
        let (start, end) = (
            u64::from_str_radix(start, 16).ok()?,
            u64::from_str_radix(end, 16).ok()?,
        );
        (rest.trim_end().ends_with(file.as_ref()) && end - start == bytes).then_some((start, bytes))
    })
}

impl Instance for RestoreInstance {
    fn launched_ns(&self) -> u64 {
        self.spawned.launched_ns
    }
    fn wait_ready(&mut self, timeout: Duration) -> Result<Ready, Error> {
        let launched = self.spawned.launched_ns;
        let deadline = Instant::now() + timeout;
        // Firecracker gone: it died, say why; still running: it was too slow.
        let died = |spawned: &mut Spawned, error: Error| {
            match spawned.try_reap() {
            Ok(Some(status)) => Error::DiedBeforeReady(format!(
                "firecracker ended ({status:?}) before the snapshot was loaded: {error}; engine stderr: {:?}",
                spawned.stderr_tail()
            )),
            _ if Instant::now() >= deadline => Error::timeout("firecracker to load the snapshot", timeout),
            _ => error,
        }
        };
        let mut api =
            api_socket::connect(&self.socket, deadline).map_err(|e| died(&mut self.spawned, e))?;
        let listening_ns = monotonic_ns();
        let load = serde_json::json!({
            "snapshot_path": self.state,
            "mem_backend": { "backend_type": "File", "backend_path": self.memory },
            "resume_vm": true,
        });
        let left = deadline.saturating_duration_since(Instant::now());
        api_socket::expect_success(&mut api, "PUT", "/snapshot/load", &load.to_string(), left)
            .map_err(|e| died(&mut self.spawned, e))?;
        let ready_ns = monotonic_ns();
        Ok(Ready {
            ready_ns,
            phases: vec![
                ("api-socket".into(), listening_ns - launched),
                ("snapshot-load".into(), ready_ns - launched),
            ],
            report: Default::default(),
        })
    }
    fn resources(&self) -> Resources {
        let pid = self.spawned.pid;
        let guest_ram = std::fs::read_to_string(format!("/proc/{pid}/smaps"))
            .ok()
            .and_then(|smaps| find_file_mapping(&smaps, &self.memory, self.mem_bytes));
        Resources {
            pids: self.spawned.processes(),
            guest_ram: guest_ram
                .map(|(start, len)| GuestRam { pid, start, len })
                .into_iter()
                .collect(),
            cgroup: self.spawned.measuring_cgroup(),
            paths: vec![self.socket.clone()],
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
        let status = self.spawned.wait_gone(timeout);
        let _ = std::fs::remove_file(&self.socket);
        match status? {
            WaitStatus::Exited(_, 0) => Ok(()),
            other => Err(Error::Engine(format!(
                "the restored guest did not power off (firecracker ended with {other:?}); stderr: {:?}",
                self.spawned.stderr_tail()
            ))),
        }
    }
}

impl Drop for RestoreInstance {
    fn drop(&mut self) {
        self.spawned.kill();
        let _ = std::fs::remove_file(&self.socket);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_memory_file_mapping_by_path_and_size() {
        let smaps = "\
7f0000000000-7f0008000000 rw-p 00000000 00:00 0 
Size:             131072 kB
7f1000000000-7f1008000000 rw-p 00000000 08:01 42                         /tmp/s/vm.mem
Size:             131072 kB
";
        let file = Path::new("/tmp/s/vm.mem");
        assert_eq!(
            find_file_mapping(smaps, file, 128 << 20),
            Some((0x7f10_0000_0000, 128 << 20))
        );
        assert_eq!(find_file_mapping(smaps, file, 64 << 20), None);
    }

    #[test]
    fn refuses_socket_paths_too_long_for_sun_path() {
        let long = PathBuf::from(format!("/tmp/{}", "d".repeat(120)));
        let error = socket_path(&long, "x.sock").unwrap_err().to_string();
        assert!(error.contains("too long for a Unix socket"), "{error}");
        assert!(socket_path(Path::new("/tmp"), "x.sock").is_ok());
    }
}
