//! Guest kernel files: what a kernel file is ([`inspect`]: a bzImage and its payload
//! compression, an ELF with or without a PVH note), the PVH ELF vmlinux that Firecracker and
//! Cloud Hypervisor need, extracted from a bzImage and cached ([`vmlinux_for`]), and Debian's
//! kernel fetched into the cache when none is there ([`fetch_debian_kernel`]).
//!
//! The cache is `microvm::guest::cache_dir()` (`$ISOBENCH_CACHE`, else
//! `~/.cache/isobench`), re-exported here as [`cache_dir`]; every function that writes takes it
//! as a parameter.
mod bzimage;
mod compression;
mod error;
mod fetch;
mod pvh;
mod vmlinux;

use std::path::Path;

pub use crate::microvm::guest::cache_dir;
pub use compression::Compression;
pub use error::KernelError;
pub use fetch::{fetch_debian_kernel, DEFAULT_PACKAGE};
pub use pvh::{XEN_ELFNOTE_PHYS32_ENTRY, XEN_NOTE_NAME};
pub use vmlinux::{extract_vmlinux, image_hash, vmlinux_for, write_atomically};

use crate::Error;

/// What a kernel file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelFormat {
    /// A bzImage. `compression` is `None` when its payload starts with a magic isobench does
    /// not know, or when its boot protocol (< 2.08) does not say where the payload is.
    BzImage {
        /// The boot protocol version, major in the high byte (0x020f is 2.15).
        protocol: u16,
        compression: Option<Compression>,
    },
    /// A 64-bit little-endian x86-64 ELF (a vmlinux), with the entry of its PVH note if it has
    /// one.
    Elf { pvh_entry: Option<u32> },
    /// Neither of those (another architecture, a truncated or malformed file, not a kernel).
    Unknown,
}

impl KernelFormat {
    /// True for a kernel Firecracker and Cloud Hypervisor can load as it is.
    pub fn is_pvh_elf(&self) -> bool {
        matches!(self, KernelFormat::Elf { pvh_entry: Some(_) })
    }
}

impl std::fmt::Display for KernelFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KernelFormat::BzImage {
                protocol,
                compression,
            } => {
                let (major, minor) = (protocol >> 8, protocol & 0xff);
                match compression {
                    Some(c) => write!(f, "bzImage (boot protocol {major}.{minor:02}, {c} payload)"),
                    None => write!(
                        f,
                        "bzImage (boot protocol {major}.{minor:02}, payload compression unknown)"
                    ),
                }
            }
            KernelFormat::Elf {
                pvh_entry: Some(entry),
            } => write!(f, "ELF vmlinux with a PVH entry at {entry:#x}"),
            KernelFormat::Elf { pvh_entry: None } => f.write_str("ELF vmlinux without a PVH note"),
            KernelFormat::Unknown => f.write_str("not a kernel image isobench knows"),
        }
    }
}

/// What `kernel` is, reading only its headers (a bzImage's setup header and payload magic, an
/// ELF's program headers and notes). Errors only when the file cannot be read.
pub fn inspect(kernel: &Path) -> Result<KernelFormat, Error> {
    let file = vmlinux::open(kernel)?;
    let head = vmlinux::read_head(&file, kernel, bzimage::HEADER_END)?;
    if head.starts_with(pvh::ELF_MAGIC) {
        return Ok(match pvh::pvh_entry(&object::ReadCache::new(file)) {
            Ok(pvh_entry) => KernelFormat::Elf { pvh_entry },
            Err(_) => KernelFormat::Unknown,
        });
    }
    match bzimage::parse(&head) {
        Ok(header) => {
            let magic = vmlinux::read_at(&file, kernel, header.payload.start as u64, 16)?;
            Ok(KernelFormat::BzImage {
                protocol: header.protocol,
                compression: Compression::detect(&magic),
            })
        }
        Err(bzimage::HeaderProblem::OldProtocol(protocol)) => Ok(KernelFormat::BzImage {
            protocol,
            compression: None,
        }),
        Err(_) => Ok(KernelFormat::Unknown),
    }
}
