//! One `isobench-vmm` process and its VM: spawning it with a report pipe, reading its phases
//! and boot-timer stamp, releasing the guest, and making sure nothing is left behind.
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{ChildStdin, Command, Stdio};
use std::time::Duration;

use isobench_protocol::{ExitReason, VmmEvent, VmmPhase, READY_MARKER};
use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};

use super::console::ConsoleDrain;
use super::guest::GuestImage;
use super::report::{LineReader, Next};
use crate::cgroup::InstanceCgroup;
use crate::isolator::{monotonic_ns, parse_ready_report, Instance, Ready};
use crate::resources::{GuestRam, Resources};
use crate::{reap, Error};

/// Everything one VM needs: the VMM, the guest, and its memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmSpec {
    pub vmm: PathBuf,
    pub guest: GuestImage,
    /// Whether the VM gets an i8254 PIT: a Linux guest calibrates its clocks against one;
    /// isobench's bare guest programs no timer, and a PIT costs milliseconds at teardown.
    /// Without one, a booted (not snapshotted) VM gets a split irqchip.
    pub pit: bool,
}

/// How a VM starts: booted, booted and snapshotted at ready, or restored from a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VmStart {
    Boot,
    /// Boot, and write a snapshot into this directory when the guest signals ready.
    BootAndSnapshot(PathBuf),
    /// Restore the snapshot in this directory (the spec's guest memory size must match it).
    Restore(PathBuf),
    /// The same restore into a VMM started ahead (`--start-fd`): the launch stamp is taken
    /// when the VMM is up and waiting, then its start byte is sent (see `prestart.rs`).
    RestorePrestarted(PathBuf),
}

/// Starts one `isobench-vmm` for `spec`, inside `cgroup` when given (so KVM's kernel memory
/// for the VM is charged where it can be read); returns at once (call `wait_ready` next).
pub fn launch_vm(spec: &VmSpec, cgroup: Option<InstanceCgroup>) -> Result<MicrovmInstance, Error> {
    launch_vm_from(spec, &VmStart::Boot, cgroup)
}

/// [`launch_vm`], starting the way `start` says.
pub fn launch_vm_from(
    spec: &VmSpec,
    start: &VmStart,
    mut cgroup: Option<InstanceCgroup>,
) -> Result<MicrovmInstance, Error> {
    let (report_read, report_write) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::sys("pipe2", e))?;
    let mut command = Command::new(&spec.vmm);
    if let VmStart::Restore(dir) | VmStart::RestorePrestarted(dir) = start {
        command.arg("--restore").arg(dir);
    } else {
        command.arg("--kernel").arg(&spec.guest.kernel);
        if let Some(initrd) = &spec.guest.initrd {
            command.arg("--initrd").arg(initrd);
        }
        if !spec.guest.cmdline.is_empty() {
            command.args(["--cmdline", &spec.guest.cmdline]);
        }
        if !spec.pit {
            command.arg("--no-pit");
        }
        // Without a PIT the guest needs only the local APIC and an I/O APIC: a split irqchip
        // spares the VM's end the SRCU grace period KVM's in-kernel PIC and I/O APIC start
        // (isolators/vmm/README.md, "Teardown: where the time goes"). A snapshot keeps the
        // kind of irqchip, so the VMs restored from it end as quickly.
        if !spec.pit {
            command.arg("--split-irqchip");
        }
    }
    if let VmStart::BootAndSnapshot(dir) = start {
        command.arg("--snapshot").arg(dir);
    }
    command
        .args(["--mem-mib", &spec.guest.mem_mib.to_string()])
        .args(["--report-fd", &report_write.as_raw_fd().to_string()]);
    let start_pipe = match start {
        VmStart::RestorePrestarted(_) => Some(super::prestart::StartPipe::new(&mut command)?),
        _ => None,
    };
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_clear()
        .process_group(0);
    // The VMM inherits the report pipe's write end; it stays close-on-exec until the last
    // moment so that children spawned elsewhere meanwhile are less likely to get a copy
    // (LineReader copes with one that does).
    fcntl(&report_write, FcntlArg::F_SETFD(FdFlag::empty())).map_err(|e| Error::sys("fcntl", e))?;
    let launched_ns = monotonic_ns();
    let spawned = match cgroup.as_mut() {
        Some(cgroup) => cgroup.spawn_inside(&mut command),
        None => command
            .spawn()
            .map_err(|e| Error::io(format!("spawn {}", spec.vmm.display()), e)),
    };
    drop(report_write);
    let start_pipe = start_pipe.map(super::prestart::StartPipe::spawned);
    if let Some(cgroup) = cgroup.as_mut() {
        cgroup.close_launch_fds();
    }
    let mut child = spawned?;
    let pid = child.id() as i32;
    let stdin = child.stdin.take();
    let streams = child.stdout.take().zip(child.stderr.take());
    let setup = reap::pidfd_open(pid).and_then(|pidfd| {
        let (stdout, stderr) =
            streams.ok_or_else(|| Error::Engine("isobench-vmm: no stdout/stderr pipes".into()))?;
        let console = ConsoleDrain::spawn(stdout, stderr)
            .map_err(|e| Error::io("start the console drain thread", e))?;
        Ok((pidfd, console))
    });
    let (pidfd, console) = match setup {
        Ok(parts) => parts,
        Err(error) => {
            reap::kill_and_reap(pid);
            return Err(error);
        }
    };
    let mut instance = MicrovmInstance {
        pid,
        pidfd,
        reaped: false,
        stdin,
        report: LineReader::new(report_read),
        console,
        launched_ns,
        restored: matches!(start, VmStart::Restore(_) | VmStart::RestorePrestarted(_)),
        guest_ram: Vec::new(),
        exit: None,
        cpu_ns: None,
        cgroup,
    };
    if let Some(start_pipe) = start_pipe {
        // On error the instance is dropped: the VMM is killed and reaped, its cgroup removed.
        instance.start_prestarted(start_pipe)?;
    }
    Ok(instance)
}

/// How long a Linux guest may take from the boot-timer stamp to its console ready line.
const READY_LINE_GRACE: Duration = Duration::from_secs(10);

/// A running VM; dropping it kills and reaps the VMM.
pub struct MicrovmInstance {
    pid: i32,
    /// Watches the VMM's exit while we read its report pipe.
    pidfd: OwnedFd,
    reaped: bool,
    /// Guest serial input: a newline releases the guest.
    stdin: Option<ChildStdin>,
    report: LineReader,
    /// The guest's serial console and the VMM's stderr, drained on a thread.
    console: ConsoleDrain,
    pub(super) launched_ns: u64,
    /// Restored from a snapshot: the guest's boot clock readings on its ready line are those
    /// of the boot before the snapshot, so they give no phases of this launch.
    restored: bool,
    guest_ram: Vec<(u64, u64)>,
    exit: Option<ExitReason>,
    /// CPU the VMM used, once reaped.
    cpu_ns: Option<u64>,
    /// The measuring cgroup the VMM runs in; after the fields above so a drop kills and reaps
    /// the VMM (see `Drop`) before the cgroup is removed.
    cgroup: Option<InstanceCgroup>,
}

impl MicrovmInstance {
    /// The last few KiB of the guest's serial console, for diagnostics.
    pub fn console_tail(&self) -> String {
        self.console.console_tail()
    }

    /// The next report line the VMM wrote (lines that are not events are skipped), or none
    /// once it closed the pipe or exited.
    pub(super) fn next_event(
        &mut self,
        deadline_ns: u64,
        what: &str,
    ) -> Result<Option<VmmEvent>, Error> {
        loop {
            match self
                .report
                .next_line(deadline_ns, self.pidfd.as_fd(), what)?
            {
                Next::Line(line) => {
                    if let Ok(event) = line.parse::<VmmEvent>() {
                        return Ok(Some(event));
                    }
                }
                Next::Eof | Next::WriterExited => return Ok(None),
            }
        }
    }

    /// After `wait_ready` of a [`VmStart::BootAndSnapshot`] VM: waits until the snapshot is
    /// written (its `snapshot` phase), so that releasing the guest cannot put the release byte
    /// into the snapshotted serial FIFO.
    pub fn wait_snapshot(&mut self, timeout: Duration) -> Result<(), Error> {
        let deadline = monotonic_ns() + timeout.as_nanos() as u64;
        let what = "isobench-vmm to write the snapshot";
        loop {
            match self.next_event(deadline, what)? {
                Some(VmmEvent::Phase {
                    phase: VmmPhase::Snapshot,
                    ..
                }) => return Ok(()),
                Some(VmmEvent::Error { message }) => {
                    let _ = self.reap(Duration::from_secs(5));
                    return Err(Error::Engine(format!("isobench-vmm: {message}")));
                }
                Some(VmmEvent::Exit { reason }) => {
                    return Err(self.died(format!(
                        "the VM ended ({}) before its snapshot was written",
                        reason.as_str()
                    )))
                }
                Some(_) => {}
                None => return Err(self.died("isobench-vmm exited before the snapshot".into())),
            }
        }
    }

    /// Reaps the VMM (it has exited or is about to) and joins the console thread.
    pub(super) fn reap(&mut self, timeout: Duration) -> Result<nix::sys::wait::WaitStatus, Error> {
        let (status, cpu_ns) = reap::wait_exit_with_cpu(self.pid, timeout, "isobench-vmm to exit")?;
        self.reaped = true;
        self.cpu_ns = Some(cpu_ns);
        self.console.join();
        Ok(status)
    }

    /// Why the VM ended before ready, in one line: the VMM's message, else the guest's last words.
    pub(super) fn died(&mut self, what: String) -> Error {
        let _ = self.reap(Duration::from_secs(5));
        let detail = self.console.first_stderr_line().or_else(|| {
            self.console
                .last_console_line()
                .map(|l| format!("guest console: {l}"))
        });
        Error::DiedBeforeReady(match detail {
            Some(detail) => format!("{what}; {detail}"),
            None => what,
        })
    }
}

impl Instance for MicrovmInstance {
    fn launched_ns(&self) -> u64 {
        self.launched_ns
    }
    fn wait_ready(&mut self, timeout: Duration) -> Result<Ready, Error> {
        let deadline = self.launched_ns + timeout.as_nanos() as u64;
        let mut phases = Vec::new();
        let what = "the guest's boot-timer write (port 0x3f0)";
        loop {
            let event = match self.next_event(deadline, what) {
                Err(Error::Timeout { .. }) => return Err(Error::timeout(what, timeout)),
                other => other?,
            };
            let since = |at: u64| at.saturating_sub(self.launched_ns);
            match event {
                Some(VmmEvent::Phase { phase, at_ns }) => {
                    phases.push((phase.as_str().to_string(), since(at_ns)));
                }
                Some(VmmEvent::GuestRam { start, len }) => self.guest_ram.push((start, len)),
                // Only a snapshot run or a verified restore says this; neither changes ready.
                Some(VmmEvent::MemoryChecksum { .. }) => {}
                Some(VmmEvent::Ready { at_ns }) => {
                    phases.push(("guest-ready".into(), since(at_ns)));
                    let left = Duration::from_nanos(deadline.saturating_sub(monotonic_ns()));
                    let Some(line) = self.console.ready_line(left.min(READY_LINE_GRACE)) else {
                        return Err(Error::Engine(format!(
                            "the guest stamped the boot timer but printed no {READY_MARKER} line on its console (last line: {})",
                            self.console.last_console_line().unwrap_or_else(|| "none".into())
                        )));
                    };
                    let mut report = parse_ready_report(&line);
                    if let Some(work_ns) = stamped_work_ns(&phases) {
                        // The bare guest has no clock of its own: its work is timed by the VMM.
                        report
                            .entry("work_ns".into())
                            .or_insert(work_ns.to_string());
                    }
                    let ready = Ready {
                        ready_ns: at_ns,
                        phases,
                        report,
                    };
                    if self.restored {
                        return Ok(ready);
                    }
                    return Ok(ready.with_guest_boot_phases(self.launched_ns));
                }
                Some(VmmEvent::Error { message }) => {
                    let _ = self.reap(Duration::from_secs(5));
                    return Err(Error::Engine(format!("isobench-vmm: {message}")));
                }
                Some(VmmEvent::Exit { reason }) => {
                    return Err(self.died(format!(
                        "the VM ended ({}) before the guest was ready",
                        reason.as_str()
                    )))
                }
                None => {
                    return Err(
                        self.died("isobench-vmm exited without a word on its report pipe".into())
                    )
                }
            }
        }
    }
    fn resources(&self) -> Resources {
        Resources {
            pids: vec![self.pid],
            guest_ram: self
                .guest_ram
                .iter()
                .map(|&(start, len)| GuestRam {
                    pid: self.pid,
                    start,
                    len,
                })
                .collect(),
            cgroup: self.cgroup.as_ref().and_then(InstanceCgroup::memory_source),
            ..Default::default()
        }
    }
    fn cpu_ns(&self) -> Option<u64> {
        self.cpu_ns
    }
    fn release(&mut self) -> Result<(), Error> {
        if let Some(mut stdin) = self.stdin.take() {
            // A broken pipe means the VM is already gone; wait_gone reports how it ended.
            let _ = stdin.write_all(b"\n");
        }
        Ok(())
    }
    fn wait_gone(&mut self, timeout: Duration) -> Result<(), Error> {
        let started = monotonic_ns();
        let deadline = started + timeout.as_nanos() as u64;
        while self.exit.is_none() {
            let event = match self.next_event(deadline, "the VM to end") {
                Err(Error::Timeout { what, .. }) => return Err(Error::Timeout { what, timeout }),
                other => other?,
            };
            match event {
                Some(VmmEvent::Exit { reason }) => self.exit = Some(reason),
                Some(VmmEvent::Error { message }) => {
                    let _ = self.reap(Duration::from_secs(5));
                    return Err(Error::Engine(format!("isobench-vmm: {message}")));
                }
                Some(_) => {}
                None => break,
            }
        }
        let left = Duration::from_nanos(deadline.saturating_sub(monotonic_ns()));
        let status = self.reap(left.max(Duration::from_millis(100)))?;
        if let Some(cgroup) = self.cgroup.as_mut() {
            let left = Duration::from_nanos(deadline.saturating_sub(monotonic_ns()));
            cgroup.remove(left.max(Duration::from_millis(100)))?;
        }
        let clean = self.exit.is_some_and(ExitReason::is_clean);
        let exit = self.exit.map_or("none reported", ExitReason::as_str);
        match status {
            nix::sys::wait::WaitStatus::Exited(_, 0) if clean => Ok(()),
            nix::sys::wait::WaitStatus::Exited(_, 0) => Err(Error::Engine(format!(
                "the guest ended with {exit} instead of its exit port or a reset (last console line: {})",
                self.console.last_console_line().unwrap_or_else(|| "none".into())
            ))),
            other => Err(Error::Engine(format!(
                "isobench-vmm ended with {other:?} (guest exit: {exit}){}",
                self.console.first_stderr_line().map(|l| format!(": {l}")).unwrap_or_default()
            ))),
        }
    }
}

/// The time between the guest's work stamps (124 and 125 on port 0x3f0), when it sent both.
fn stamped_work_ns(phases: &[(String, u64)]) -> Option<u64> {
    let at = |phase: VmmPhase| {
        phases
            .iter()
            .find(|(name, _)| name == phase.as_str())
            .map(|&(_, at)| at)
    };
    at(VmmPhase::GuestWorkEnd)?.checked_sub(at(VmmPhase::GuestWorkBegin)?)
}

impl Drop for MicrovmInstance {
    fn drop(&mut self) {
        if !self.reaped {
            reap::kill_and_reap(self.pid);
            self.reaped = true;
        }
        self.stdin = None;
        self.console.join();
    }
}
