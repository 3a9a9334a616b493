//! One launch of the native container: its cgroup, the clone into its namespaces, and the
//! instance it becomes (ready, resources, release, teardown).
use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use super::child::ChildRun;
use super::template::MountTemplate;
use super::{clone, ContainerLauncher, NAMESPACES, NAMESPACES_AT_CLONE};
use crate::cgroup::{CgroupPlan, InstanceCgroup};
use crate::fdchannel::FdChannel;
use crate::io_dir::{IoDir, IoDirs};
use crate::isolator::{monotonic_ns, DiskFootprint, Instance, Launcher, Ready};
use crate::probe::PROBE_NAME;
use crate::reap::ChildProbe;
use crate::resources::Resources;
use crate::Error;

impl Launcher for ContainerLauncher {
    fn disk(&self) -> &DiskFootprint {
        &self.disk
    }
    fn launch(&mut self) -> Result<Box<dyn Instance>, Error> {
        let prepared = self;
        let mut channel = FdChannel::new()?;
        let channel_arg =
            CString::new(channel.probe_channel_arg()).expect("a formatted fd pair has no NUL");
        let probe = CString::new(format!("/{PROBE_NAME}")).expect("the probe name has no NUL");
        let argv = [
            probe.as_ptr(),
            c"--mode".as_ptr(),
            prepared.mode.as_ptr(),
            c"--channel".as_ptr(),
            channel_arg.as_ptr(),
            std::ptr::null(),
        ];
        let io_dir = prepared.io_dirs.as_ref().map(IoDirs::create).transpose()?;
        let io_dir_path = io_dir
            .as_ref()
            .map(|d| CString::new(d.path().as_os_str().as_encoded_bytes()))
            .transpose()
            .map_err(|_| Error::BadInput("the io directory's path contains NUL".into()))?;

        let launched_ns = monotonic_ns();
        let mut cgroup = match &prepared.plan {
            CgroupPlan::Unavailable { .. } => None,
            plan => Some(plan.create_instance()?),
        };
        // v1: this thread steps into the cgroup around clone, so even the child's task and
        // kernel stack are charged to the instance; elsewhere the child joins by itself.
        let stepped_in = match (cgroup.as_mut(), &prepared.home) {
            (Some(cgroup), Some(home)) => {
                cgroup.prepare_spawn(Some(home.clone()))?;
                cgroup.step_in()?;
                true
            }
            _ => false,
        };
        let cgroup_ns = monotonic_ns();
        let join_fds = match stepped_in {
            true => Vec::new(),
            false => cgroup
                .as_ref()
                .map(InstanceCgroup::join_fds)
                .unwrap_or_default(),
        };
        // Without a cgroup, clone creates every namespace. With one, the child unshares all but
        // the pid namespace once it is inside. From a template, the mount namespace is a copy
        // of the template's, made after setns.
        let template_fd = prepared.template.as_ref().map(MountTemplate::fd);
        let namespaces = match template_fd {
            Some(_) => NAMESPACES & !(libc::CLONE_NEWNS as u64),
            None => NAMESPACES,
        } | libc::CLONE_NEWCGROUP as u64;
        let (mut flags, unshare_flags) = match &cgroup {
            None => (namespaces, 0),
            Some(_) => (
                NAMESPACES_AT_CLONE,
                (namespaces & !NAMESPACES_AT_CLONE) as libc::c_int,
            ),
        };
        if prepared.setup.rootless() {
            flags |= libc::CLONE_NEWUSER as u64;
        }
        let mut run = ChildRun {
            setup: &prepared.setup,
            argv: &argv,
            join_fds: &join_fds,
            unshare_flags,
            template_fd,
            stdin_fd: prepared.dev_null.as_raw_fd(),
            stderr_fd: prepared.stderr_log.as_raw_fd(),
            io_dir: io_dir_path.as_deref(),
            started_ns: 0,
            unshared_ns: 0,
            mounted_ns: 0,
            failed_step: None,
            errno: 0,
        };
        let clone_into = cgroup.as_ref().and_then(InstanceCgroup::clone_into_fd);
        let spawned = clone::spawn(&mut prepared.stack, flags, clone_into, &mut run);
        let stepped_out = match (stepped_in, cgroup.as_ref()) {
            (true, Some(cgroup)) => cgroup.step_out(),
            _ => Ok(()),
        };
        let pid = spawned?;
        if let Err(error) = stepped_out {
            crate::reap::kill_and_reap(pid);
            return Err(error);
        }
        let exec_ns = monotonic_ns();
        channel.close_child_ends();
        if let Some(cgroup) = cgroup.as_mut() {
            cgroup.close_launch_fds();
        }
        let mut phases = Vec::new();
        if cgroup.is_some() {
            phases.push(("cgroup".to_string(), cgroup_ns - launched_ns));
        }
        phases.push((
            "clone".to_string(),
            run.started_ns.saturating_sub(launched_ns),
        ));
        phases.push((
            "namespaces".to_string(),
            run.unshared_ns.saturating_sub(launched_ns),
        ));
        phases.push((
            "mounts".to_string(),
            run.mounted_ns.saturating_sub(launched_ns),
        ));
        phases.push(("exec".to_string(), exec_ns - launched_ns));
        Ok(Box::new(ContainerInstance {
            probe: ChildProbe::new(pid, launched_ns, channel),
            phases,
            cgroup,
            io_dir,
            supervises: prepared.supervises,
        }))
    }
}

struct ContainerInstance {
    /// The probe, PID 1 of the instance's pid namespace: killing it kills everything inside.
    /// Declared first, so a drop kills it before the cgroup (which kills anything left in it
    /// and removes its directories) and the io directory are dropped.
    probe: ChildProbe,
    phases: Vec<(String, u64)>,
    cgroup: Option<InstanceCgroup>,
    /// The `io` workload's host directory (bound at /tmp), removed at teardown and on drop.
    io_dir: Option<IoDir>,
    /// The probe supervises the user's command: its processes are the probe's descendants.
    supervises: bool,
}

impl Instance for ContainerInstance {
    fn launched_ns(&self) -> u64 {
        self.probe.launched_ns
    }
    fn wait_ready(&mut self, timeout: Duration) -> Result<Ready, Error> {
        self.probe.wait_ready(timeout, self.phases.clone(), "ready")
    }
    fn resources(&self) -> Resources {
        Resources {
            pids: crate::process::instance_pids(self.probe.pid, self.supervises),
            cgroup: self.cgroup.as_ref().and_then(InstanceCgroup::memory_source),
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
        let deadline = Instant::now() + timeout;
        self.probe
            .wait_exit(timeout, "the container's probe to exit")?;
        if let Some(cgroup) = self.cgroup.as_mut() {
            cgroup.remove(deadline.saturating_duration_since(Instant::now()))?;
        }
        // The bind at /tmp went with the probe's mount namespace; the directory is ours.
        self.io_dir.as_ref().map_or(Ok(()), IoDir::remove)
    }
}
