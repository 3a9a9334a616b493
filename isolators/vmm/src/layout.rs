//! Guest-physical addresses of everything the VMM writes before the first instruction.

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
/// TSS for KVM on Intel (three pages below 4 GiB).
pub const TSS_ADDRESS: usize = 0xfffb_d000;
