//! The Linux guest of every VM row when the user gives a workload (`--rootfs/--cmd/--ready`):
//! its initramfs (the user's tree + the probe as /init + the spec, see [`super::user_initramfs`]),
//! its guest RAM sized from that archive, and why the rows that cannot run it say so.
//!
//! Why an initramfs and not a virtio block device: isobench-vmm has no virtio-blk (nor any
//! PCI or MMIO bus), and every peer VMM boots an initramfs the same way, so one archive reaches
//! all five Linux rows alike. The cost is RAM: the tree lives in the guest's rootfs (a ramfs),
//! and the archive sits in guest memory while the kernel unpacks it.
use std::path::{Path, PathBuf};

use super::guest::{linux_cmdline, GuestImage};
use super::user_initramfs::InitramfsPlan;
use crate::isolator::Workload;
use crate::user_workload::UserWorkload;
use crate::Error;
use isobench_protocol::Mode;

/// Guest RAM beside the archive and its unpacked tree: kernel, page cache, the workload.
pub const USER_GUEST_BASE_MIB: u32 = 128;
/// Guest RAM is rounded up to a multiple of this.
const USER_GUEST_ROUND_MIB: u32 = 64;
/// Unpack the initramfs into a ramfs, not the default tmpfs: that tmpfs may hold at most half of
/// the RAM the kernel counts when it mounts it, and the archive itself (still reserved then)
/// is not counted, so a 200 MiB tree failed to unpack ("Initramfs unpacking failed: write
/// error") in 576 MiB. A ramfs has no such limit; guest RAM sizing bounds it instead.
const RAMFS_ROOT: &str = "rootfstype=ramfs";
/// The initramfs's file name in the scratch dir.
const USER_INITRAMFS: &str = "user-initramfs.cpio";

/// Why the bare-guest rows cannot run a user workload.
pub fn bare_guest_refusal() -> String {
    "the bare guest has no OS to run a command in; use microvm-linux (or another -linux row, or qemu-tcg)".into()
}

/// Why a snapshot-restore row cannot run a user workload.
pub fn restore_refusal(name: &str) -> String {
    format!(
        "{name} resumes a snapshot taken at the probe's own ready point; with --cmd the snapshot would have to be taken once the command is ready, which isobench does not do — use the cold row"
    )
}

/// Why a VM cannot boot `--rootfs /`.
fn host_root_refusal() -> String {
    "--rootfs / is the host's own root, which a VM cannot boot as its initramfs; give a rootfs directory or image".into()
}

/// Whether a Linux-guest VM row can run `user`: not the host's own root.
pub fn user_availability_problem(user: &UserWorkload) -> Option<String> {
    user.rootfs.is_host().then(host_root_refusal)
}

/// MiB, rounded up.
fn mib_ceil(bytes: u64) -> u64 {
    bytes.div_ceil(1 << 20)
}

/// The guest RAM an initramfs of `archive_bytes` needs: the archive and the tree it unpacks
/// into both sit in guest RAM during boot (2 × archive), plus [`USER_GUEST_BASE_MIB`],
/// rounded up to 64 MiB.
pub fn needed_guest_mem_mib(archive_bytes: u64) -> u32 {
    let mib = 2 * mib_ceil(archive_bytes) + u64::from(USER_GUEST_BASE_MIB);
    let rounded = mib.next_multiple_of(u64::from(USER_GUEST_ROUND_MIB));
    u32::try_from(rounded).unwrap_or(u32::MAX)
}

/// The guest RAM to give: `--mem-mib` when it is enough, else [`needed_guest_mem_mib`]; one
/// clear line when `--mem-mib` is too small or the host has less RAM than needed.
pub fn guest_mem_mib(
    archive_bytes: u64,
    vm_mem_mib: Option<u32>,
    host_total_mib: Option<u64>,
) -> Result<u32, Error> {
    let needed = needed_guest_mem_mib(archive_bytes);
    let rootfs_mib = mib_ceil(archive_bytes);
    match vm_mem_mib {
        Some(given) if given < needed => Err(Error::BadInput(format!(
            "rootfs of {rootfs_mib} MiB packed into an initramfs needs about {needed} MiB of guest RAM; pass --mem-mib {needed} or a smaller rootfs (--mem-mib {given} given)"
        ))),
        Some(given) => Ok(given),
        None => match host_total_mib {
            Some(total) if u64::from(needed) > total => Err(Error::BadInput(format!(
                "rootfs of {rootfs_mib} MiB packed into an initramfs needs about {needed} MiB of guest RAM, more than this host has ({total} MiB); use a smaller rootfs"
            ))),
            _ => Ok(needed),
        },
    }
}

/// The host's MemTotal in MiB, if /proc/meminfo says.
fn host_total_mib() -> Option<u64> {
    <procfs::Meminfo as procfs::Current>::current()
        .ok()
        .map(|m| m.mem_total >> 20)
}

/// The workload the guest's /init runs: `exec` (or `noop`, which boots the user's tree with
/// the probe alone); any other mode is refused in one line.
fn guest_workload(workload: &Workload) -> Result<&Workload, Error> {
    match workload.mode {
        Mode::Exec | Mode::Noop => Ok(workload),
        _ => Err(Error::BadInput(format!(
            "workload {workload} cannot be combined with --cmd: the probe supervises the command (workload exec)"
        ))),
    }
}

/// Refuses workload `exec` without a user workload, for the Linux rows.
pub fn refuse_exec_without_user(workload: &Workload) -> Result<(), Error> {
    match workload.mode {
        Mode::Exec => Err(Error::BadInput(
            "workload exec runs the user's command: give --rootfs, --cmd and --ready".into(),
        )),
        _ => Ok(()),
    }
}

impl GuestImage {
    /// `kernel` with an initramfs of the user's tree, the probe as /init and the spec
    /// (streamed to `scratch/user-initramfs.cpio`), the command line that runs `workload`
    /// (exec), and guest RAM from [`guest_mem_mib`]. Checked before anything is written.
    pub fn linux_user(
        kernel: PathBuf,
        workload: &Workload,
        user: &UserWorkload,
        vm_mem_mib: Option<u32>,
        scratch: &Path,
    ) -> Result<GuestImage, Error> {
        if let Some(problem) = user_availability_problem(user) {
            return Err(Error::Unavailable(problem));
        }
        let workload = guest_workload(workload)?;
        GuestImage::refuse_non_kernel(&kernel)?;
        let plan = InitramfsPlan::for_workload(user)?;
        let mem_mib = guest_mem_mib(plan.archive_bytes, vm_mem_mib, host_total_mib())?;
        let initrd = scratch.join(USER_INITRAMFS);
        plan.write(&initrd)?;
        Ok(GuestImage {
            kernel,
            initrd: Some(initrd),
            cmdline: format!("{} {RAMFS_ROOT}", linux_cmdline(workload)),
            mem_mib,
        })
    }
}

/// The notes a Linux-guest VM row adds with a user workload: what its initramfs holds and the
/// guest RAM it gets (computed from the tree's metadata, the same for every VM row of a run).
pub fn user_notes(user: &UserWorkload, vm_mem_mib: Option<u32>) -> Vec<String> {
    let Ok(plan) = InitramfsPlan::for_workload(user) else {
        return Vec::new();
    };
    let ram = match vm_mem_mib {
        Some(given) => format!("{given} MiB (--mem-mib)"),
        None => format!(
            "{} MiB (2 × archive + {USER_GUEST_BASE_MIB} MiB, rounded up to {USER_GUEST_ROUND_MIB} MiB; --mem-mib sets it)",
            needed_guest_mem_mib(plan.archive_bytes)
        ),
    };
    vec![format!(
        "the initramfs holds the user's rootfs {} ({} MiB packed, unpacked into the guest's ramfs root) with the probe as /init supervising the command; guest RAM {ram}, the same in every VM row of the run",
        user.rootfs.given.display(),
        mib_ceil(plan.archive_bytes)
    )]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_ram_is_twice_the_archive_plus_the_base_rounded_up() {
        assert_eq!(needed_guest_mem_mib(0), 128);
        assert_eq!(needed_guest_mem_mib(1), 192);
        assert_eq!(needed_guest_mem_mib(300 << 20), 768);
        assert_eq!(guest_mem_mib(300 << 20, None, Some(4096)).unwrap(), 768);
        assert_eq!(guest_mem_mib(300 << 20, Some(1024), None).unwrap(), 1024);
    }

    #[test]
    fn too_little_guest_ram_is_one_line_naming_what_to_pass() {
        let error = guest_mem_mib(300 << 20, Some(256), None)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(
                "rootfs of 300 MiB packed into an initramfs needs about 768 MiB of guest RAM; pass --mem-mib 768 or a smaller rootfs"
            ),
            "{error}"
        );
        let error = guest_mem_mib(3000 << 20, None, Some(2000))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("more than this host has (2000 MiB)"),
            "{error}"
        );
        assert!(!error.contains('\n'));
    }
}
