//! Guest-physical addresses of everything the VMM writes before the first instruction, and
//! where guest RAM lives.

/// PVH `hvm_start_info`.
pub const PVH_START_INFO: u64 = 0x6000;
/// PVH memory map, right after the start info.
pub const PVH_MEMMAP: u64 = 0x6100;
/// PVH module list (the initrd).
pub const PVH_MODLIST: u64 = 0x6200;
/// Linux boot protocol zero page.
pub const ZERO_PAGE: u64 = 0x7000;
/// Initial stack pointer for 64-bit entry.
pub const BOOT_STACK: u64 = 0x8ff0;
/// Identity page tables: PML4, PDPT, PD.
pub const PML4: u64 = 0x9000;
pub const PDPT: u64 = 0xa000;
pub const PD: u64 = 0xb000;
/// GDT for 64-bit entry.
pub const GDT: u64 = 0x500;
/// Kernel command line.
pub const CMDLINE: u64 = 0x2_0000;
pub const CMDLINE_MAX_BYTES: usize = 4096;
/// End of the low RAM below the EBDA (e820 entry 0).
pub const EBDA_START: u64 = 0x9_fc00;
/// Where kernels load and high RAM starts.
pub const HIGH_MEMORY: u64 = 0x10_0000;
/// TSS for KVM on Intel (three pages below 4 GiB, inside the MMIO gap).
pub const TSS_ADDRESS: usize = 0xfffb_d000;
/// The 32-bit MMIO gap (IOAPIC, LAPIC, the TSS above): no RAM between these addresses.
pub const MMIO_GAP_START: u64 = 0xc000_0000;
pub const MMIO_GAP_END: u64 = 0x1_0000_0000;

/// Guest RAM as (guest-physical start, length) ranges: RAM up to the MMIO gap, and whatever
/// does not fit below it from 4 GiB up.
pub fn ram_regions(mem_bytes: u64) -> Vec<(u64, u64)> {
    let low = mem_bytes.min(MMIO_GAP_START);
    let mut regions = vec![(0, low)];
    if mem_bytes > low {
        regions.push((MMIO_GAP_END, mem_bytes - low));
    }
    regions
}

/// End of the RAM range that starts at 0: the ceiling for the kernel, initrd and boot data.
pub fn low_ram_end(mem_bytes: u64) -> u64 {
    mem_bytes.min(MMIO_GAP_START)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ram_skips_the_mmio_gap() {
        assert_eq!(ram_regions(128 << 20), vec![(0, 128 << 20)]);
        assert_eq!(ram_regions(3 << 30), vec![(0, 3 << 30)]);
        assert_eq!(ram_regions(5 << 30), vec![(0, 3 << 30), (4 << 30, 2 << 30)]);
        assert_eq!(low_ram_end(5 << 30), 3 << 30);
        assert!(
            TSS_ADDRESS as u64 >= MMIO_GAP_START,
            "TSS must not overlap RAM"
        );
    }
}
