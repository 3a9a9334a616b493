//! Why a kernel file cannot be used as it is: one line each, naming the file and what to do.
use std::path::PathBuf;

use super::Compression;

/// A kernel image isobench cannot boot or convert. Reaches callers as
/// [`crate::Error::Kernel`], so a VMM row can say in one line why it has no Linux guest.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("{}: not a kernel image (no bzImage \"HdrS\" header, not an ELF file) — pass a bzImage or an ELF vmlinux", path.display())]
    NotAKernel { path: PathBuf },
    #[error("{}: bzImage boot protocol {}.{:02} is older than 2.08 and does not say where its compressed kernel is — use a newer kernel, or pass its ELF vmlinux", path.display(), protocol >> 8, protocol & 0xff)]
    OldBootProtocol { path: PathBuf, protocol: u16 },
    #[error("{}: truncated: {detail} — fetch or copy the kernel again", path.display())]
    Truncated { path: PathBuf, detail: String },
    #[error("{}: corrupt {compression} payload: {detail} — fetch or copy the kernel again", path.display())]
    Corrupt {
        path: PathBuf,
        compression: Compression,
        detail: String,
    },
    #[error("{}: unknown payload compression (first bytes {magic}) — isobench reads gzip, bzip2, lzma, xz, lz4 and zstd; pass the kernel's ELF vmlinux instead", path.display())]
    UnknownCompression { path: PathBuf, magic: String },
    #[error("{}: {compression}-compressed payload, which isobench does not decompress — use a kernel compressed with gzip, xz, lz4 or zstd, or pass its ELF vmlinux", path.display())]
    UnsupportedCompression {
        path: PathBuf,
        compression: Compression,
    },
    #[error("{}: {what}, not an x86-64 kernel — pass an x86-64 bzImage or vmlinux", path.display())]
    NotX86_64 { path: PathBuf, what: String },
    #[error("{}: malformed ELF file: {detail} — fetch or build the kernel again", path.display())]
    BadElf { path: PathBuf, detail: String },
    #[error("{}: no PVH entry note (ELF note \"Xen\", type 18): this VMM needs a PVH kernel: CONFIG_PVH=y — use a kernel built with it (Debian's are)", path.display())]
    NoPvhNote { path: PathBuf },
}
