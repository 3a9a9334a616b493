//! The baseline: the probe as a plain child process, no isolation at all.
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::disk::DiskFootprint;
use crate::fdchannel::FdChannel;
use crate::host::Host;
use crate::isolator::{
    monotonic_ns, Availability, Description, Instance, Isolator, KernelKind, Kind, Ready, Resources,
};
use crate::probe::{write_probe, Workload};
use crate::{reap, Error};

/// Runs the probe with `posix_spawn`, the cheapest way a process can start another.
#[derive(Default)]
pub struct ProcessIsolator {
    prepared: Option<(PathBuf, Workload)>,
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
            version: format!("isobench {}", env!("CARGO_PKG_VERSION")),
            notes: Vec::new(),
        }
    }
    fn availability(&self, _host: &Host) -> Availability {
        Availability::Available
    }
    fn prepare(&mut self, workload: &Workload, scratch: &Path) -> Result<DiskFootprint, Error> {
        let probe = write_probe(scratch)?;
        let footprint = DiskFootprint::measure(std::slice::from_ref(&probe), &[])?;
        self.prepared = Some((probe, workload.clone()));
        Ok(footprint)
    }
    fn launch(&mut self) -> Result<Box<dyn Instance>, Error> {
        let (probe, workload) = self
            .prepared
            .as_ref()
            .ok_or_else(|| Error::BadInput("process: launch before prepare".into()))?;
        let mut channel = FdChannel::new()?;
        let mut command = Command::new(probe);
        command
            .args([
                "--mode",
                &workload.mode,
                "--channel",
                &channel.probe_channel_arg(),
            ])
            .env_clear()
            .stdin(Stdio::null())
            // Its own process group, so a terminal's Ctrl-C reaches only the harness, which
            // then finishes the trial in flight and cleans up.
            .process_group(0);
        let launched_ns = monotonic_ns();
        let child = command
            .spawn()
            .map_err(|e| Error::io(format!("spawn {}", probe.display()), e))?;
        channel.close_child_ends();
        Ok(Box::new(ProcessInstance {
            pid: child.id() as i32,
            channel,
            launched_ns,
            reaped: false,
        }))
    }
}

struct ProcessInstance {
    pid: i32,
    channel: FdChannel,
    launched_ns: u64,
    reaped: bool,
}

impl Instance for ProcessInstance {
    fn launched_ns(&self) -> u64 {
        self.launched_ns
    }
    fn wait_ready(&mut self, timeout: Duration) -> Result<Ready, Error> {
        let mut ready = self.channel.wait_ready(self.launched_ns, timeout)?;
        ready
            .phases
            .push(("spawn+exec".into(), ready.ready_ns - self.launched_ns));
        Ok(ready)
    }
    fn resources(&self) -> Resources {
        Resources {
            pids: vec![self.pid],
            ..Default::default()
        }
    }
    fn release(&mut self) -> Result<(), Error> {
        self.channel.release()
    }
    fn wait_gone(&mut self, timeout: Duration) -> Result<(), Error> {
        reap::wait_exit(self.pid, timeout, "the probe process to exit")?;
        self.reaped = true;
        Ok(())
    }
}

impl Drop for ProcessInstance {
    fn drop(&mut self) {
        if !self.reaped {
            reap::kill_and_reap(self.pid);
        }
    }
}
