//! The `microvm-restore` and `microvm-linux-restore` isolators: warm starts of the bare guest
//! and of the Linux guest (the probe as /init). `prepare` boots the guest once with
//! `isobench-vmm --snapshot` and keeps the snapshot (guest memory file + state file) in
//! scratch; every launch is a new `isobench-vmm --restore` that maps that memory file
//! copy-on-write and resumes the guest just after its ready signal (the bare guest's boot-timer
//! write, or the probe's). `microvm-restore-prestarted` restores the bare guest's snapshot the
//! same way into a VMM process started ahead of the launch stamp (see `prestart.rs`).
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::guest::{self, GuestImage};
use super::instance::{launch_vm_from, VmSpec, VmStart};
use super::isolator::VmGuest;
use super::vmm_binary::find_vmm;
use crate::cgroup::MeasuringCgroups;
use crate::host::Host;
use crate::isolator::{
    Availability, Description, DiskFootprint, GuestKind, Instance, Isolator, KernelKind, Kind,
    Launcher, Workload,
};
use crate::user_workload::UserWorkload;
use crate::Error;
use isobench_protocol::{Mode, DEFAULT_GUEST_MEM_MIB};

/// How long the one boot that takes the snapshot may take, each step.
const SNAPSHOT_BOOT_TIMEOUT: Duration = Duration::from_secs(60);
/// The files of a snapshot directory (isobench-vmm's `snapshot::STATE_FILE`, `MEMORY_FILE`).
const SNAPSHOT_FILES: [&str; 2] = ["vm.state", "memory"];

pub struct MicrovmRestoreIsolator {
    guest: VmGuest,
    kernel_option: Option<PathBuf>,
    mem_mib: u32,
    /// A user workload, which a restored guest cannot run (see `availability`).
    user: Option<Arc<UserWorkload>>,
    /// Each launch's VMM is spawned and waiting before the launch stamp.
    prestarted: bool,
}

impl MicrovmRestoreIsolator {
    /// `microvm-restore`: the bare guest.
    pub fn new(mem_mib: Option<u32>) -> MicrovmRestoreIsolator {
        MicrovmRestoreIsolator {
            guest: VmGuest::Bare,
            kernel_option: None,
            mem_mib: mem_mib.unwrap_or(DEFAULT_GUEST_MEM_MIB),
            user: None,
            prestarted: false,
        }
    }

    /// `microvm-restore-prestarted`: the bare guest restored into a VMM started ahead.
    pub fn prestarted(mem_mib: Option<u32>) -> MicrovmRestoreIsolator {
        MicrovmRestoreIsolator {
            prestarted: true,
            ..MicrovmRestoreIsolator::new(mem_mib)
        }
    }

    /// `microvm-linux-restore`: the Linux guest of `microvm-linux` (same kernel search).
    pub fn linux(kernel: Option<PathBuf>, mem_mib: Option<u32>) -> MicrovmRestoreIsolator {
        MicrovmRestoreIsolator {
            guest: VmGuest::Linux,
            kernel_option: kernel,
            mem_mib: mem_mib.unwrap_or(DEFAULT_GUEST_MEM_MIB),
            user: None,
            prestarted: false,
        }
    }

    /// With the user's workload (`options.user`), a row that says why it cannot run it.
    pub fn with_user(mut self, user: Option<Arc<UserWorkload>>) -> MicrovmRestoreIsolator {
        self.user = user;
        self
    }
}

struct RestoreLauncher {
    spec: VmSpec,
    snapshot_dir: PathBuf,
    prestarted: bool,
    disk: DiskFootprint,
    cgroups: MeasuringCgroups,
}

/// Boots the guest once with `--snapshot dir`, waits until the snapshot is written, then lets
/// the guest end as every trial does.
fn take_snapshot(spec: &VmSpec, dir: &Path) -> Result<(), Error> {
    let mut vm = launch_vm_from(spec, &VmStart::BootAndSnapshot(dir.to_path_buf()), None)?;
    vm.wait_ready(SNAPSHOT_BOOT_TIMEOUT)?;
    vm.wait_snapshot(SNAPSHOT_BOOT_TIMEOUT)?;
    vm.release()?;
    vm.wait_gone(SNAPSHOT_BOOT_TIMEOUT)
}

impl Isolator for MicrovmRestoreIsolator {
    fn name(&self) -> &str {
        match (self.guest, self.prestarted) {
            (VmGuest::Bare, false) => "microvm-restore",
            (VmGuest::Bare, true) => "microvm-restore-prestarted",
            (VmGuest::Linux, false) => "microvm-linux-restore",
            (VmGuest::Linux, true) => "microvm-linux-restore-prestarted",
        }
    }
    fn kind(&self) -> Kind {
        Kind::Microvm
    }
    fn warm_start(&self) -> bool {
        true
    }
    fn guest(&self) -> GuestKind {
        match self.guest {
            VmGuest::Bare => GuestKind::Bare,
            VmGuest::Linux => GuestKind::Linux,
        }
    }
    fn describe(&self) -> Description {
        let (boundary, guest) = match self.guest {
            VmGuest::Bare => ("own guest (bare PVH code, no OS)", "the bare guest"),
            VmGuest::Linux => (
                "own guest kernel (Linux, the probe as /init)",
                "the Linux guest",
            ),
        };
        let mut notes = vec![format!(
            "warm start: {guest} snapshotted once at its ready point, each launch maps its memory file copy-on-write and resumes it; ready is the resumed guest's first port access"
        )];
        if self.prestarted {
            notes.push("VMM started ahead: each launch's own isobench-vmm process is spawned and waiting before the launch stamp (as Firecracker's snapshot load is timed), so startup leaves out its exec, which microvm-restore counts; its memory and CPU are charged as usual".into());
        }
        Description {
            boundary: format!("{boundary} + KVM hardware virtualization, restored from a snapshot; VMM: isobench-vmm"),
            kernel: KernelKind::Own,
            version: format!("isobench-vmm {}", env!("CARGO_PKG_VERSION")),
            notes,
        }
    }
    fn availability(&self, host: &Host) -> Availability {
        if self.user.is_some() {
            return Availability::unavailable(match self.guest {
                VmGuest::Bare => super::user_guest::bare_guest_refusal(),
                VmGuest::Linux => super::user_guest::restore_refusal(self.name()),
            });
        }
        super::isolator::availability(host, self.guest, self.kernel_option.as_deref())
    }
    fn prepare(&self, workload: &Workload, scratch: &Path) -> Result<Box<dyn Launcher>, Error> {
        if !matches!(workload.mode, Mode::Noop) || workload.startup_delay_us > 0 {
            return Err(Error::BadInput(format!(
                "{} resumes the guest after its ready point, where its work is already done; it runs workload noop only, not {workload} — use the cold row for the guest's work",
                self.name()
            )));
        }
        let vmm = find_vmm()?;
        let spec = match self.guest {
            VmGuest::Bare => VmSpec {
                vmm: vmm.clone(),
                guest: GuestImage::bare(&guest::BareWork::Noop, self.mem_mib, scratch)?,
                pit: false,
            },
            VmGuest::Linux => {
                // The same PVH vmlinux and initramfs as microvm-linux.
                let found = guest::find_kernel(self.kernel_option.as_deref())?;
                let kernel = crate::kernel::vmlinux_for(&found, &crate::kernel::cache_dir())?;
                VmSpec {
                    vmm: vmm.clone(),
                    guest: GuestImage::linux(kernel, workload, self.mem_mib, scratch)?,
                    pit: true,
                }
            }
        };
        let snapshot_dir = scratch.join("snapshot");
        take_snapshot(&spec, &snapshot_dir)?;
        let image: Vec<PathBuf> = SNAPSHOT_FILES
            .iter()
            .map(|name| snapshot_dir.join(name))
            .collect();
        let disk = crate::disk::measure(std::slice::from_ref(&vmm), &image)?;
        Ok(Box::new(RestoreLauncher {
            spec,
            snapshot_dir,
            prestarted: self.prestarted,
            disk,
            cgroups: MeasuringCgroups::prepare(),
        }))
    }
}

impl Launcher for RestoreLauncher {
    fn disk(&self) -> &DiskFootprint {
        &self.disk
    }
    fn launch(&mut self) -> Result<Box<dyn Instance>, Error> {
        let start = match self.prestarted {
            false => VmStart::Restore(self.snapshot_dir.clone()),
            true => VmStart::RestorePrestarted(self.snapshot_dir.clone()),
        };
        Ok(Box::new(launch_vm_from(
            &self.spec,
            &start,
            self.cgroups.create()?,
        )?))
    }
}
