//! The PVH boot protocol's `hvm_start_info`, memory map and module list (the initrd).
use linux_loader::loader::elf::start_info::{
    hvm_memmap_table_entry, hvm_modlist_entry, hvm_start_info,
};

use super::zero_page::e820_map;
use crate::layout::{CMDLINE, PVH_MEMMAP, PVH_MODLIST};

/// "xEn3" with the top bit of each byte set, as the PVH ABI defines it.
pub const XEN_HVM_START_MAGIC: u32 = 0x336e_c578;
const E820_RAM: u32 = 1;

pub struct PvhInfo {
    pub start_info: hvm_start_info,
    pub memmap: Vec<hvm_memmap_table_entry>,
    pub modules: Vec<hvm_modlist_entry>,
}

pub fn build(mem_bytes: u64, has_cmdline: bool, initrd: Option<(u64, u64)>) -> PvhInfo {
    let memmap: Vec<hvm_memmap_table_entry> = e820_map(mem_bytes)
        .into_iter()
        .map(|(addr, size)| hvm_memmap_table_entry {
            addr,
            size,
            type_: E820_RAM,
            reserved: 0,
        })
        .collect();
    let modules: Vec<hvm_modlist_entry> = initrd
        .into_iter()
        .map(|(paddr, size)| hvm_modlist_entry {
            paddr,
            size,
            ..Default::default()
        })
        .collect();
    let start_info = hvm_start_info {
        magic: XEN_HVM_START_MAGIC,
        version: 1,
        nr_modules: modules.len() as u32,
        modlist_paddr: if modules.is_empty() { 0 } else { PVH_MODLIST },
        cmdline_paddr: if has_cmdline { CMDLINE } else { 0 },
        memmap_paddr: PVH_MEMMAP,
        memmap_entries: memmap.len() as u32,
        ..Default::default()
    };
    PvhInfo {
        start_info,
        memmap,
        modules,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vm_memory::ByteValued;

    #[test]
    fn start_info_layout() {
        let info = build(64 << 20, true, Some((0x300_0000, 0x2000)));
        let bytes = info.start_info.as_slice();
        assert_eq!(
            u32::from_le_bytes(bytes[0..4].try_into().unwrap()),
            XEN_HVM_START_MAGIC
        );
        assert_eq!(
            u32::from_le_bytes(bytes[4..8].try_into().unwrap()),
            1,
            "version"
        );
        assert_eq!(
            u32::from_le_bytes(bytes[12..16].try_into().unwrap()),
            1,
            "nr_modules"
        );
        assert_eq!(
            u64::from_le_bytes(bytes[16..24].try_into().unwrap()),
            PVH_MODLIST
        );
        assert_eq!(
            u64::from_le_bytes(bytes[24..32].try_into().unwrap()),
            CMDLINE
        );
        assert_eq!(
            u64::from_le_bytes(bytes[40..48].try_into().unwrap()),
            PVH_MEMMAP
        );
        assert_eq!(
            u32::from_le_bytes(bytes[48..52].try_into().unwrap()),
            2,
            "memmap entries"
        );
        assert_eq!(
            (info.memmap[1].addr, info.memmap[1].size),
            (0x10_0000, (64 << 20) - 0x10_0000)
        );
        assert_eq!(
            (info.modules[0].paddr, info.modules[0].size),
            (0x300_0000, 0x2000)
        );
        assert_eq!(build(64 << 20, false, None).start_info.modlist_paddr, 0);
    }
}
