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
    /// The kernel looks like a bzImage or ELF but could not be loaded (e.g. truncated).
    #[error("kernel {path}: cannot be loaded ({detail}); the file may be truncated or corrupt")]
    KernelLoad { path: PathBuf, detail: String },
    /// The initrd does not fit below the top of guest memory.
    #[error("initrd {path} ({size_bytes} bytes) does not fit in {mem_mib} MiB of guest memory above the kernel — raise --mem-mib")]
    InitrdTooLarge {
        path: PathBuf,
        size_bytes: u64,
        mem_mib: u32,
    },
    /// Guest memory is too small for the kernel itself.
    #[error("--mem-mib {0} is too small for this kernel — give the guest more memory")]
    MemoryTooSmall(u32),
    /// /dev/kvm is missing.
    #[error("/dev/kvm: not found — load kvm_intel or kvm_amd, or enable virtualization")]
    NoKvm,
    /// /dev/kvm exists but we may not open it.
    #[error("/dev/kvm: permission denied — add yourself to group kvm (usermod -aG kvm $USER) or run as root")]
    KvmPermission,
    /// A KVM ioctl failed.
    #[error("KVM {what}: {source}")]
    Kvm {
        what: &'static str,
        source: kvm_ioctls::Error,
    },
    /// Guest memory could not be set up.
    #[error("guest memory: {0}")]
    Memory(String),
    /// Writing boot structures into guest memory failed.
    #[error("boot set-up: {0}")]
    Boot(String),
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
