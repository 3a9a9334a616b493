//! Test helpers: the workspace's gating rule (re-exported from `test-gate`) with the checks
//! for this crate's capabilities, and the leak probes tests share: `io` instance directories
//! and mounts under a scratch dir; and the outer VM of the nested-KVM tests ([`outer_vm`] on
//! the host, [`inside_vm`] as its init).

pub mod inside_vm;
pub mod outer_vm;

use std::path::{Path, PathBuf};

pub use crate::host::which;
pub use test_gate::{check_root, required, run_if, skip};

/// `Ok` when /dev/kvm opens read-write and `isobench-vmm` is found (the `kvm` capability).
pub fn check_kvm_and_vmm() -> Result<(), String> {
    if let Some(problem) = crate::kvm::KvmAccess::detect().problem {
        return Err(problem);
    }
    crate::microvm::find_vmm()
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// `Ok` when `program` is on PATH.
pub fn check_on_path(program: &str) -> Result<(), String> {
    which(program)
        .map(|_| ())
        .ok_or_else(|| format!("{program} is not on PATH"))
}

/// The `io` workload's instance directories under an isolator's scratch dir: `io/*`, and
/// `rootfs/tmp/*` where a chroot-based engine (unshare) keeps them.
pub fn io_instance_dirs(scratch: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = ["io", "rootfs/tmp"]
        .iter()
        .filter_map(|sub| std::fs::read_dir(scratch.join(sub)).ok())
        .flat_map(|entries| entries.flatten().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// Lines of this process's /proc/self/mountinfo that name `path` (a mount at or below it, or
/// a bind of it), so a test can tell that no instance mount leaked into the host.
pub fn mounts_naming(path: &Path) -> Vec<String> {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let text = path.to_string_lossy().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|line| line.contains(&text))
        .map(str::to_string)
        .collect()
}

/// Panics unless the probe's ready report says its `io` workload wrote `bytes` (its checksum).
pub fn assert_io_wrote(report: &std::collections::BTreeMap<String, String>, bytes: u64) {
    assert_eq!(
        report.get("checksum").map(String::as_str),
        Some(bytes.to_string().as_str()),
        "the io workload's report: {report:?}"
    );
}
