//! The Linux boot protocol's zero page (`boot_params`) and its e820 map.
use linux_loader::loader::bootparam::{boot_e820_entry, boot_params, setup_header};

use crate::layout::{ram_regions, CMDLINE, EBDA_START, HIGH_MEMORY};

const E820_RAM: u32 = 1;
/// "HdrS": a setup header is present.
const KERNEL_HDR_MAGIC: u32 = 0x5372_6448;
const KERNEL_BOOT_FLAG_MAGIC: u16 = 0xaa55;
/// Type of loader: 0xff, "undefined" — must be non-zero for the kernel to accept the initrd.
const LOADER_UNDEFINED: u8 = 0xff;
/// Minimum kernel alignment the kernel expects when no header gives one.
const KERNEL_MIN_ALIGNMENT_BYTES: u32 = 0x0100_0000;

/// The RAM ranges the guest sees: low memory below the EBDA, 1 MiB to the end of low RAM,
/// and RAM above 4 GiB when there is more than fits below the MMIO gap.
pub fn e820_map(mem_bytes: u64) -> Vec<(u64, u64)> {
    let mut map = vec![(0, EBDA_START)];
    for (start, len) in ram_regions(mem_bytes) {
        if start == 0 {
            map.push((HIGH_MEMORY, len - HIGH_MEMORY));
        } else {
            map.push((start, len));
        }
    }
    map
}

/// Builds the zero page. `header` comes from a bzImage; an ELF vmlinux has none.
pub fn build(
    header: Option<setup_header>,
    mem_bytes: u64,
    cmdline_bytes: usize,
    initrd: Option<(u64, u64)>,
) -> boot_params {
    let mut params = boot_params::default();
    if let Some(header) = header {
        params.hdr = header;
    }
    params.hdr.type_of_loader = LOADER_UNDEFINED;
    params.hdr.boot_flag = KERNEL_BOOT_FLAG_MAGIC;
    params.hdr.header = KERNEL_HDR_MAGIC;
    params.hdr.cmd_line_ptr = CMDLINE as u32;
    params.hdr.cmdline_size = cmdline_bytes as u32;
    if params.hdr.kernel_alignment == 0 {
        params.hdr.kernel_alignment = KERNEL_MIN_ALIGNMENT_BYTES;
    }
    if let Some((address, size)) = initrd {
        params.hdr.ramdisk_image = address as u32;
        params.hdr.ramdisk_size = size as u32;
    }
    let map = e820_map(mem_bytes);
    for (slot, &(addr, size)) in params.e820_table.iter_mut().zip(&map) {
        *slot = boot_e820_entry {
            addr,
            size,
            r#type: E820_RAM,
        };
    }
    params.e820_entries = map.len() as u8;
    params
}

#[cfg(test)]
mod tests {
    use super::*;
    use vm_memory::ByteValued;

    #[test]
    fn zero_page_fields_land_at_their_offsets() {
        let params = build(None, 128 << 20, 42, Some((0x700_0000, 0x1000)));
        let bytes = params.as_slice();
        assert_eq!(bytes[0x210], 0xff, "type_of_loader at 0x210");
        assert_eq!(
            u16::from_le_bytes([bytes[0x1fe], bytes[0x1ff]]),
            0xaa55,
            "boot_flag at 0x1fe"
        );
        assert_eq!(&bytes[0x202..0x206], b"HdrS", "header magic at 0x202");
        assert_eq!(
            u32::from_le_bytes(bytes[0x228..0x22c].try_into().unwrap()),
            0x2_0000,
            "cmd_line_ptr at 0x228"
        );
        assert_eq!(
            u32::from_le_bytes(bytes[0x218..0x21c].try_into().unwrap()),
            0x700_0000,
            "ramdisk_image at 0x218"
        );
        assert_eq!(
            u32::from_le_bytes(bytes[0x21c..0x220].try_into().unwrap()),
            0x1000,
            "ramdisk_size at 0x21c"
        );
        assert_eq!(bytes[0x1e8], 2, "e820_entries at 0x1e8");
        let entry = |i: usize| {
            let at = 0x2d0 + i * 20;
            (
                u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()),
                u64::from_le_bytes(bytes[at + 8..at + 16].try_into().unwrap()),
                u32::from_le_bytes(bytes[at + 16..at + 20].try_into().unwrap()),
            )
        };
        assert_eq!(entry(0), (0, 0x9_fc00, 1));
        assert_eq!(entry(1), (0x10_0000, (128 << 20) - 0x10_0000, 1));
        assert_eq!(entry(2), (0, 0, 0), "nothing after the last entry");
    }

    #[test]
    fn e820_above_the_mmio_gap() {
        let params = build(None, 6 << 30, 1, None);
        assert_eq!(params.e820_entries, 3);
        let table = params.e820_table;
        let entry = |i: usize| (table[i].addr, table[i].size);
        assert_eq!(entry(1), (0x10_0000, (3 << 30) - 0x10_0000));
        assert_eq!(entry(2), (4 << 30, 3 << 30));
    }
}
