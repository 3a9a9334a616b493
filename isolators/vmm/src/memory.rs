//! Guest RAM: one anonymous private `MAP_NORESERVE` mapping per RAM range, never pre-faulted,
//! registered with KVM, and — for a guest OS — aligned to 2 MiB and marked for transparent
//! huge pages, so KVM maps it into the guest with 2 MiB pages.
//!
//! Why: each 4 KiB page a guest touches for the first time is a nested-page-fault exit (EPT
//! violation / NPF) that KVM handles by mapping one page. A Linux guest touches tens of MiB
//! while it boots — about 16,000 such exits for Debian's cloud kernel in 128 MiB. KVM maps a
//! whole 2 MiB page at once only when the host backs that guest range with a huge page and
//! the guest-physical and host-virtual addresses agree modulo 2 MiB; an ordinary `mmap`
//! gives no such alignment. QEMU and Cloud Hypervisor do the same by default.
//!
//! The cost: the host fills and zeroes a whole 2 MiB page where the guest touched part of
//! it, so more guest RAM is resident. A guest that touches a few 4 KiB pages (isobench's
//! bare guest) keeps 4 KiB pages: see [`HugePages::Auto`].
use std::ptr::null_mut;

use kvm_bindings::kvm_userspace_memory_region;
use kvm_ioctls::VmFd;
use vm_memory::{
    GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion, GuestRegionMmap,
    MmapRegion,
};

use crate::error::{Error, Result};
use crate::layout::ram_regions;

/// The huge page size KVM maps guest memory with on x86-64.
pub const HUGE_PAGE_BYTES: usize = 2 << 20;

/// Whether guest RAM asks the host for transparent huge pages (`--huge-pages`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HugePages {
    /// On when the kernel file is at least one huge page: a guest OS, which touches tens of
    /// MiB as it boots. Off for a smaller kernel (the bare guest touches a few 4 KiB pages,
    /// and a 2 MiB page would cost it 2 MiB of resident memory and the time to zero it).
    Auto,
    On,
    Off,
}

impl HugePages {
    pub fn parse(text: &str) -> Option<HugePages> {
        match text {
            "auto" => Some(HugePages::Auto),
            "on" => Some(HugePages::On),
            "off" => Some(HugePages::Off),
            _ => None,
        }
    }

    /// The choice for a kernel file of `kernel_bytes`.
    pub fn enabled(self, kernel_bytes: u64) -> bool {
        match self {
            HugePages::Auto => kernel_bytes >= HUGE_PAGE_BYTES as u64,
            HugePages::On => true,
            HugePages::Off => false,
        }
    }
}

/// Guest RAM and the mappings behind it; `memory` is dropped before the mappings go.
pub struct GuestRam {
    pub memory: GuestMemoryMmap,
    _mappings: Vec<Mapping>,
}

impl GuestRam {
    /// Guest RAM whose regions own their mappings (vm-memory unmaps them on drop): a restored
    /// guest's file-backed RAM.
    pub fn owned_by_regions(memory: GuestMemoryMmap) -> GuestRam {
        GuestRam {
            memory,
            _mappings: Vec::new(),
        }
    }
}

/// An anonymous mapping this module made and unmaps.
struct Mapping {
    address: usize,
    len: usize,
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the range is a mapping made by `map_anonymous`, and the GuestMemoryMmap that
        // pointed into it was dropped first (field order of GuestRam).
        unsafe { libc::munmap(self.address as *mut libc::c_void, self.len) };
    }
}

/// Maps `len` bytes of anonymous private memory at a multiple of `align` (a power of two):
/// maps `len + align`, then unmaps the unaligned head and the tail.
fn map_anonymous(len: usize, align: usize) -> std::io::Result<usize> {
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
    let prot = libc::PROT_READ | libc::PROT_WRITE;
    let padded = len + align;
    // SAFETY: a fresh anonymous mapping at an address the kernel picks; no existing memory
    // is touched.
    let base = unsafe { libc::mmap(null_mut(), padded, prot, flags, -1, 0) };
    if base == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    let base = base as usize;
    let start = (base + align - 1) & !(align - 1);
    let (head, tail) = (start - base, base + padded - (start + len));
    // SAFETY: both ranges lie inside the mapping just made and outside [start, start + len),
    // the part we keep; nothing refers to them.
    unsafe {
        if head > 0 {
            libc::munmap(base as *mut libc::c_void, head);
        }
        if tail > 0 {
            libc::munmap((start + len) as *mut libc::c_void, tail);
        }
    }
    Ok(start)
}

/// Maps guest RAM (below and above the MMIO gap), with huge pages when `huge`. Nothing here
/// needs the VM: the kernel can be written into it before it is registered ([`register`]).
pub fn map(mem_bytes: u64, huge: bool) -> Result<GuestRam> {
    let mut mappings = Vec::new();
    let mut regions = Vec::new();
    for (start, len) in ram_regions(mem_bytes) {
        let len = len as usize;
        let align = if huge { HUGE_PAGE_BYTES } else { 4096 };
        let address = map_anonymous(len, align).map_err(|source| Error::Host {
            what: "map guest RAM",
            source,
        })?;
        mappings.push(Mapping { address, len });
        advise(address, len, huge);
        let prot = libc::PROT_READ | libc::PROT_WRITE;
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
        // SAFETY: [address, address + len) is the live mapping just made; `mappings` keeps it
        // until after the GuestMemoryMmap built on it is dropped.
        let mapping = unsafe { MmapRegion::build_raw(address as *mut u8, len, prot, flags) }
            .map_err(|e| Error::Memory(e.to_string()))?;
        let region = GuestRegionMmap::new(mapping, GuestAddress(start))
            .ok_or_else(|| Error::Memory(format!("guest RAM at {start:#x} overflows")))?;
        regions.push(region);
    }
    let memory =
        GuestMemoryMmap::from_regions(regions).map_err(|e| Error::Memory(e.to_string()))?;
    Ok(GuestRam {
        memory,
        _mappings: mappings,
    })
}

/// Registers guest RAM with KVM, one slot per region.
pub fn register(vm: &VmFd, memory: &GuestMemoryMmap) -> Result<()> {
    for (slot, region) in memory.iter().enumerate() {
        let region_spec = kvm_userspace_memory_region {
            slot: slot as u32,
            guest_phys_addr: region.start_addr().0,
            memory_size: region.len(),
            userspace_addr: region.as_ptr() as u64,
            flags: 0,
        };
        // SAFETY: the region is a live mapping owned by the caller's GuestRam, which outlives
        // the VM's use of it (both live until `vm::run` returns).
        unsafe { vm.set_user_memory_region(region_spec) }.map_err(|source| Error::Kvm {
            what: "register guest memory",
            source,
        })?;
    }
    Ok(())
}

/// Gives guest RAM its own VMA flags so the kernel never merges it with a neighbouring
/// anonymous mapping (the harness finds guest RAM in /proc/PID/smaps by its exact range), and
/// asks for transparent huge pages when `huge`. Both are hints: a host with THP disabled
/// simply keeps 4 KiB pages.
pub(crate) fn advise(address: usize, len: usize, huge: bool) {
    let ptr = address as *mut libc::c_void;
    // SAFETY: madvise on a mapping we own; MADV_DONTFORK only affects fork(), which we never
    // call, and MADV_HUGEPAGE only changes how the kernel backs the range.
    unsafe {
        libc::madvise(ptr, len, libc::MADV_DONTFORK);
        if huge {
            libc::madvise(ptr, len, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_picks_huge_pages_for_a_kernel_of_a_huge_page_or_more() {
        assert!(!HugePages::Auto.enabled(600));
        assert!(!HugePages::Auto.enabled((2 << 20) - 1));
        assert!(HugePages::Auto.enabled(2 << 20));
        assert!(HugePages::On.enabled(600));
        assert!(!HugePages::Off.enabled(64 << 20));
        assert_eq!(HugePages::parse("auto"), Some(HugePages::Auto));
        assert_eq!(HugePages::parse("yes"), None);
    }

    #[test]
    fn mappings_are_aligned() {
        for align in [4096, HUGE_PAGE_BYTES] {
            let address = map_anonymous(8 << 20, align).unwrap();
            assert_eq!(address % align, 0);
            drop(Mapping {
                address,
                len: 8 << 20,
            });
        }
    }
}
