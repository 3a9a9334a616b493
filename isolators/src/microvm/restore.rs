//! The `microvm-restore` isolator: warm starts of the bare guest. `prepare` boots it once with
//! `isobench-vmm --snapshot` and keeps the snapshot (guest memory file + state file) in
//! scratch; every launch is a new `isobench-vmm --restore` that maps that memory file
//! copy-on-write and resumes the guest just after its ready signal.
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::guest::{self, GuestImage};
use super::instance::{launch_vm_from, VmSpec, VmStart};
use super::vmm_binary::find_vmm;
use crate::cgroup::MeasuringCgroups;
use crate::host::Host;
use crate::isolator::{
    Availability, Description, DiskFootprint, GuestKind, Instance, Isolator, KernelKind, Kind,
    Launcher, Workload,
};
use crate::Error;
use isobench_protocol::DEFAULT_GUEST_MEM_MIB;

/// How long the one boot that takes the snapshot may take, each step.
const SNAPSHOT_BOOT_TIMEOUT: Duration = Duration::from_secs(60);
/// The files of a snapshot directory (isobench-vmm's `snapshot::STATE_FILE`, `MEMORY_FILE`).
const SNAPSHOT_FILES: [&str; 2] = ["vm.state", "memory"];

pub struct MicrovmRestoreIsolator {
    mem_mib: u32,
}

impl MicrovmRestoreIsolator {
    pub fn new(mem_mib: Option<u32>) -> MicrovmRestoreIsolator {
        MicrovmRestoreIsolator {
            mem_mib: mem_mib.unwrap_or(DEFAULT_GUEST_MEM_MIB),
        }
    }
}

struct RestoreLauncher {
    spec: VmSpec,
    snapshot_dir: PathBuf,
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
        "microvm-restore"
    }
    fn kind(&self) -> Kind {
        Kind::Microvm
    }
    fn guest(&self) -> GuestKind {
        GuestKind::Bare
    }
    fn describe(&self) -> Description {
        Description {
            boundary: "own guest (bare PVH code, no OS) + KVM hardware virtualization, restored from a snapshot; VMM: isobench-vmm".into(),
            kernel: KernelKind::Own,
            version: format!("isobench-vmm {}", env!("CARGO_PKG_VERSION")),
            notes: vec![
                "warm start: the bare guest snapshotted once at its ready point, each launch maps its memory file copy-on-write and resumes it; ready is the resumed guest's first port access".into(),
            ],
        }
    }
    fn availability(&self, host: &Host) -> Availability {
        if let Some(problem) = &host.kvm.problem {
            return Availability::unavailable(problem.clone());
        }
        match find_vmm() {
            Ok(_) => Availability::Available,
            Err(e) => Availability::unavailable(e.to_string()),
        }
    }
    fn prepare(&self, workload: &Workload, scratch: &Path) -> Result<Box<dyn Launcher>, Error> {
        let mode = workload.mode.to_string();
        let work = guest::BareWork::from_mode(&mode).map_err(Error::BadInput)?;
        if work != guest::BareWork::Noop || workload.startup_delay_us > 0 {
            return Err(Error::BadInput(format!(
                "microvm-restore resumes the bare guest after its ready point, where its work is already done; it runs workload noop only, not {workload} — use microvm for the guest's work"
            )));
        }
        let vmm = find_vmm()?;
        let spec = VmSpec {
            vmm: vmm.clone(),
            guest: GuestImage::bare(&work, self.mem_mib, scratch)?,
            pit: false,
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
        let start = VmStart::Restore(self.snapshot_dir.clone());
        Ok(Box::new(launch_vm_from(
            &self.spec,
            &start,
            self.cgroups.create()?,
        )?))
    }
}
