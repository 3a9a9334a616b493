//! The guest-image format isobench writes (the bare PVH guest) and reads (Linux kernels, in the
//! VMM and in the vmlinux extractor): the ELF and Xen PVH-note numbers, and page sizes.

/// ELF program header type of a loadable segment.
pub const PT_LOAD: u32 = 1;
/// ELF program header type of a note segment.
pub const PT_NOTE: u32 = 4;
/// ELF machine of x86-64.
pub const EM_X86_64: u16 = 62;
/// Xen note type of the 32-bit physical entry point for PVH boot (XEN_ELFNOTE_PHYS32_ENTRY).
pub const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;
/// The name of Xen's ELF notes.
pub const XEN_NOTE_NAME: &[u8] = b"Xen";
/// A 4 KiB page.
pub const PAGE_BYTES: u32 = 4096;
/// A mebibyte.
pub const MIB_BYTES: u32 = 1 << 20;
