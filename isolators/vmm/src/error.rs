//! Everything that can stop a VM; each variant's message is the one line the user reads.
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad command line.
    #[error("{0} (see isobench-vmm --help)")]
    Usage(String),
    /// The kernel file is missing.
    #[error("kernel {0}: no such file — pass --kernel or run scripts/fetch-guest-kernel.sh")]
    KernelMissing(PathBuf),
    /// A file could not be read.
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The kernel is none of the formats we boot.
    #[error("kernel {0}: is not an ELF, PVH ELF or bzImage")]
    NotAKernel(PathBuf),
    /// The kernel file is shorter than its own headers say.
    #[error("kernel {path}: truncated: {detail} — copy or download it again")]
    KernelTruncated { path: PathBuf, detail: String },
    /// The kernel is an ELF or bzImage we cannot boot.
    #[error("kernel {path}: {detail}")]
    KernelUnsupported { path: PathBuf, detail: String },
    /// linux-loader could not load a kernel that passed our checks.
    #[error("kernel {path}: cannot be loaded ({detail}); the file may be corrupt")]
    KernelLoad { path: PathBuf, detail: String },
    /// The initrd alone is bigger than the guest.
    #[error("initrd {path} ({size_mib} MiB) is larger than guest memory ({mem_mib} MiB) — raise --mem-mib")]
    InitrdLargerThanMemory {
        path: PathBuf,
        size_mib: u64,
        mem_mib: u32,
    },
    /// Kernel and initrd do not both fit in low guest RAM.
    #[error("--mem-mib {mem_mib} is too small for the kernel (RAM up to {kernel_end_mib} MiB){} — raise --mem-mib", initrd_note(*.initrd_mib))]
    MemoryTooSmall {
        mem_mib: u32,
        kernel_end_mib: u64,
        initrd_mib: u64,
    },
    /// /dev/kvm is missing.
    #[error("/dev/kvm: not found — load kvm_intel or kvm_amd, or enable virtualization")]
    NoKvm,
    /// /dev/kvm exists but we may not open it.
    #[error("/dev/kvm: permission denied — {advice}")]
    KvmPermission {
        /// From the device's owner group and mode (see `isobench_protocol::kvm_access`).
        advice: String,
    },
    /// A KVM ioctl failed.
    #[error("KVM {what}: {source}")]
    Kvm {
        what: &'static str,
        source: kvm_ioctls::Error,
    },
    /// Guest memory could not be set up.
    #[error("guest memory: {0}")]
    Memory(String),
    /// A host resource (eventfd, thread) could not be created.
    #[error("{what}: {source}")]
    Host {
        what: &'static str,
        source: std::io::Error,
    },
    /// Writing boot structures into guest memory failed.
    #[error("boot set-up: {0}")]
    Boot(String),
    /// A snapshot file that this VMM will not restore.
    #[error("snapshot {path}: {detail}")]
    Snapshot { path: PathBuf, detail: String },
    /// The state body does not hold what this VMM wrote, or KVM refused part of it.
    #[error("snapshot state: {0} — take the snapshot again with this VMM")]
    SnapshotState(String),
    /// `--mem-mib` asks for another guest memory size than the snapshot's.
    #[error("snapshot {path}: its guest has {snapshot_mib} MiB of RAM, --mem-mib asks for {asked_mib} — drop --mem-mib or take the snapshot with --mem-mib {asked_mib}")]
    SnapshotMemorySize {
        path: PathBuf,
        snapshot_mib: u64,
        asked_mib: u32,
    },
    /// `--verify-memory`: the mapped guest RAM is not what was snapshotted.
    #[error("snapshot {path}: guest memory checksum {found:08x} differs from the {expected:08x} recorded when it was taken — the memory file was changed; take the snapshot again")]
    SnapshotMemoryChanged {
        path: PathBuf,
        expected: u32,
        found: u32,
    },
    /// `--start-fd`: the descriptor ended before its start byte came (the caller went away).
    #[error("--start-fd {fd}: closed before the start byte — nothing was restored")]
    NotStarted { fd: i32 },
    /// KVM could not run the guest's instruction.
    #[error("KVM internal error (suberror {suberror}) at rip {rip:#x}, instruction bytes [{bytes}]{hint}")]
    Internal {
        suberror: u32,
        rip: u64,
        bytes: String,
        hint: &'static str,
    },
    /// VM entry failed.
    #[error("KVM entry failed: hardware reason {reason:#x}{hint}")]
    FailEntry { reason: u64, hint: &'static str },
}

fn initrd_note(initrd_mib: u64) -> String {
    match initrd_mib {
        0 => String::new(),
        mib => format!(" + initrd ({mib} MiB)"),
    }
}

/// Said when the host's KVM is a software implementation.
pub const SOFTWARE_KVM_HINT: &str = " — software KVM cannot run this guest";

/// The hint to add to guest-execution errors on this host.
pub fn software_kvm_hint() -> &'static str {
    if std::path::Path::new("/sys/module/kvm_pvm").exists() {
        SOFTWARE_KVM_HINT
    } else {
        ""
    }
}

pub type Result<T> = std::result::Result<T, Error>;
