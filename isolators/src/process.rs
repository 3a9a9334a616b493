//! The baseline: the probe as a plain child process, no isolation at all.
//!
//! A user workload runs here only when its rootfs is the host's own (`--rootfs /`): the probe
//! supervises the command on the host, reading the spec from the scratch dir (`--spec`).
//!
//! For the `io` workload each instance gets its own directory under the scratch dir, named in
//! `ISOBENCH_IO_DIR`: the same host file system the container-class isolators bind at /tmp.
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use crate::fdchannel::FdChannel;
use crate::host::Host;
use crate::io_dir::{IoDir, IoDirs, IO_DIR_ENV};
use crate::isolator::{
    monotonic_ns, Availability, Description, DiskFootprint, Instance, Isolator, KernelKind, Kind,
    Launcher, Ready, Workload,
};
use crate::probe::{open_stderr_log, write_probe};
use crate::reap::ChildProbe;
use crate::resources::Resources;
use crate::user_workload::UserWorkload;
use crate::Error;

/// Runs the probe with `posix_spawn`, the cheapest way a process can start another.
#[derive(Default)]
pub struct ProcessIsolator {
    /// The user's workload (`--rootfs / --cmd … --ready …`), run on the host itself.
    user: Option<Arc<UserWorkload>>,
}

impl ProcessIsolator {
    /// Runs the user's workload when `user` is Some (only with the host's root as its rootfs).
    pub fn with_user(user: Option<Arc<UserWorkload>>) -> ProcessIsolator {
        ProcessIsolator { user }
    }

    /// Why it cannot run the user's workload: a rootfs other than the host's.
    fn refusal(&self) -> Option<&'static str> {
        self.user
            .as_ref()
            .filter(|user| !user.rootfs.is_host())
            .map(|_| "the process baseline runs on the host's root; pass --rootfs / to time the command there")
    }
}

/// The probe written into the scratch dir, ready to spawn.
struct ProcessLauncher {
    probe: PathBuf,
    /// The probe's stderr (see [`crate::probe::PROBE_STDERR_LOG`]).
    stderr_log: std::fs::File,
    workload: Workload,
    io_dirs: Option<IoDirs>,
    /// `--spec PATH` for a user workload: the spec file written into the scratch dir.
    spec: Option<PathBuf>,
    disk: DiskFootprint,
}

impl Isolator for ProcessIsolator {
    fn name(&self) -> &str {
        "process"
    }
    fn kind(&self) -> Kind {
        Kind::Process
    }
    fn describe(&self) -> Description {
        Description {
            boundary: "none: a plain child process (the baseline)".into(),
            kernel: KernelKind::Shared,
            version: format!(
                "isobench {} (probe: static {})",
                env!("CARGO_PKG_VERSION"),
                crate::probe::STATIC_LIBC
            ),
            notes: crate::probe::static_libc_note().into_iter().collect(),
        }
    }
    fn availability(&self, _host: &Host) -> Availability {
        match self.refusal() {
            Some(reason) => Availability::unavailable(reason),
            None => Availability::Available,
        }
    }
    fn prepare(&self, workload: &Workload, scratch: &Path) -> Result<Box<dyn Launcher>, Error> {
        if let Some(reason) = self.refusal() {
            return Err(Error::Unavailable(reason.into()));
        }
        let probe = write_probe(scratch)?;
        let spec = self
            .user
            .as_ref()
            .map(|u| u.write_spec(scratch))
            .transpose()?;
        let disk = crate::disk::measure(std::slice::from_ref(&probe), &[])?;
        Ok(Box::new(ProcessLauncher {
            probe,
            stderr_log: open_stderr_log(scratch)?,
            workload: *workload,
            io_dirs: IoDirs::for_workload(workload, scratch)?,
            spec,
            disk,
        }))
    }
}

impl Launcher for ProcessLauncher {
    fn disk(&self) -> &DiskFootprint {
        &self.disk
    }
    fn launch(&mut self) -> Result<Box<dyn Instance>, Error> {
        let ProcessLauncher {
            probe,
            stderr_log,
            workload,
            io_dirs,
            spec,
            ..
        } = &*self;
        // Duplicated before the clock starts; the child's dup2 onto fd 2 is one syscall, as for
        // stdin.
        let stderr = stderr_log
            .try_clone()
            .map_err(|e| Error::io("dup the probe's stderr log", e))?;
        let io_dir = io_dirs.as_ref().map(IoDirs::create).transpose()?;
        let mut channel = FdChannel::new()?;
        let mut command = Command::new(probe);
        command
            .args([
                "--mode",
                &workload.to_string(),
                "--channel",
                &channel.probe_channel_arg(),
            ])
            .env_clear()
            .stdin(Stdio::null())
            .stderr(stderr)
            // Its own process group, so a terminal's Ctrl-C reaches only the harness, which
            // then finishes the trial in flight and cleans up.
            .process_group(0);
        if let Some(dir) = &io_dir {
            command.env(IO_DIR_ENV, dir.path());
        }
        if let Some(spec) = spec {
            command.arg("--spec").arg(spec);
        }
        let launched_ns = monotonic_ns();
        let child = command
            .spawn()
            .map_err(|e| Error::io(format!("spawn {}", probe.display()), e))?;
        channel.close_child_ends();
        Ok(Box::new(ProcessInstance {
            probe: ChildProbe::new(child.id() as i32, launched_ns, channel),
            io_dir,
            supervises: spec.is_some(),
        }))
    }
}

/// The host pids of an instance whose first process is `probe`: the probe alone, or, when it
/// supervises the user's command, the probe and every process below it (the command's).
pub(crate) fn instance_pids(probe: i32, supervises: bool) -> Vec<i32> {
    let below = match supervises {
        true => crate::external::procs::descendants(probe),
        false => Vec::new(),
    };
    match below.is_empty() {
        true => vec![probe],
        false => below,
    }
}

struct ProcessInstance {
    /// Declared first, so a drop kills the probe before removing its directory.
    probe: ChildProbe,
    /// The `io` workload's directory, removed at teardown (and on drop).
    io_dir: Option<IoDir>,
    /// The probe supervises the user's command: its processes are the probe's descendants.
    supervises: bool,
}

impl Instance for ProcessInstance {
    fn launched_ns(&self) -> u64 {
        self.probe.launched_ns
    }
    fn wait_ready(&mut self, timeout: Duration) -> Result<Ready, Error> {
        self.probe.wait_ready(timeout, Vec::new(), "spawn+exec")
    }
    fn resources(&self) -> Resources {
        Resources {
            pids: crate::process::instance_pids(self.probe.pid, self.supervises),
            paths: self.io_dir.iter().map(|d| d.path().to_path_buf()).collect(),
            ..Default::default()
        }
    }
    fn release(&mut self) -> Result<(), Error> {
        self.probe.release()
    }
    fn cpu_ns(&self) -> Option<u64> {
        self.probe.cpu_ns
    }
    fn wait_gone(&mut self, timeout: Duration) -> Result<(), Error> {
        self.probe.wait_exit(timeout, "the probe process to exit")?;
        self.io_dir.as_ref().map_or(Ok(()), IoDir::remove)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::io_instance_dirs;

    /// The baseline's `io` instance writes in its own directory under the scratch dir, named
    /// in ISOBENCH_IO_DIR, which is gone after teardown and after a drop.
    #[test]
    fn io_writes_in_its_own_directory() {
        let scratch = tempfile::tempdir().unwrap();
        let process = ProcessIsolator::default();
        let io: Workload = "io:64".parse().unwrap();
        let mut launcher = process.prepare(&io, scratch.path()).unwrap();
        for released in [true, false] {
            let mut instance = launcher.launch().unwrap();
            let ready = instance.wait_ready(Duration::from_secs(10)).unwrap();
            let checksum = ready.report.get("checksum").map(String::as_str);
            assert_eq!(checksum, Some("65536"), "{:?}", ready.report);
            let dirs = io_instance_dirs(scratch.path());
            assert_eq!(dirs.len(), 1, "{dirs:?}");
            assert_eq!(instance.resources().paths, dirs);
            let pid = instance.resources().pids[0];
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
            let expected = format!("{IO_DIR_ENV}={}", dirs[0].display());
            assert!(
                environ.split(|&b| b == 0).any(|v| v == expected.as_bytes()),
                "{}",
                String::from_utf8_lossy(&environ)
            );
            if released {
                instance.release().unwrap();
                instance.wait_gone(Duration::from_secs(10)).unwrap();
                assert!(!dirs[0].exists());
            }
            drop(instance);
            assert_eq!(io_instance_dirs(scratch.path()), Vec::<PathBuf>::new());
        }
        // Other workloads get no directory and no variable.
        let mut launcher = process.prepare(&Workload::noop(), scratch.path()).unwrap();
        let mut instance = launcher.launch().unwrap();
        instance.wait_ready(Duration::from_secs(10)).unwrap();
        let pid = instance.resources().pids[0];
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        assert!(environ.is_empty(), "{}", String::from_utf8_lossy(&environ));
        assert!(instance.resources().paths.is_empty());
    }
}
