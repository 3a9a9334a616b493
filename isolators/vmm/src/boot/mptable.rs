//! An Intel MultiProcessor Specification (1.4) table for Linux guests: one processor, the ISA
//! bus, the in-kernel I/O APIC and its 24 pins. Without it (we have no ACPI) Linux finds no
//! I/O APIC, stays in virtual-wire mode and takes every interrupt through the 8259 PIC —
//! several extra port exits per timer tick, which a guest pays all through its boot.
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

use crate::error::{Error, Result};
use crate::layout::EBDA_START;

/// Where the floating pointer goes: the last KiB of base memory, which Linux scans and which
/// our E820 map leaves out of RAM. The configuration table follows it.
pub const MPTABLE_START: u64 = EBDA_START;
/// The in-kernel I/O APIC (KVM_CREATE_IRQCHIP) and local APIC addresses.
const IOAPIC_ADDRESS: u32 = 0xfec0_0000;
const LAPIC_ADDRESS: u32 = 0xfee0_0000;
/// The I/O APIC's id: after the one CPU's.
const IOAPIC_ID: u8 = 1;
/// KVM's I/O APIC has 24 pins; GSI n is pin n.
const IOAPIC_PINS: u8 = 24;
const SPEC_REVISION: u8 = 4;

/// Entry types and flags of the configuration table.
const ENTRY_PROCESSOR: u8 = 0;
const ENTRY_BUS: u8 = 1;
const ENTRY_IOAPIC: u8 = 2;
const ENTRY_IO_INTERRUPT: u8 = 3;
const ENTRY_LOCAL_INTERRUPT: u8 = 4;
const CPU_ENABLED_BSP: u8 = 0b11;
const INTERRUPT_INT: u8 = 0;
const INTERRUPT_NMI: u8 = 1;
const INTERRUPT_EXTINT: u8 = 3;

/// Writes the floating pointer and the configuration table at [`MPTABLE_START`].
pub fn write(memory: &GuestMemoryMmap) -> Result<()> {
    let table_address = MPTABLE_START as u32 + 16;
    let table = configuration_table();
    let pointer = floating_pointer(table_address);
    memory
        .write_slice(&pointer, GuestAddress(MPTABLE_START))
        .and_then(|()| memory.write_slice(&table, GuestAddress(u64::from(table_address))))
        .map_err(|e| Error::Boot(format!("MP table: {e}")))
}

/// The 16-byte "_MP_" structure that points at the configuration table.
fn floating_pointer(table_address: u32) -> Vec<u8> {
    let mut bytes = b"_MP_".to_vec();
    bytes.extend(table_address.to_le_bytes());
    // Length in 16-byte units, spec revision, checksum (below), feature bytes 1–5 (0: the
    // configuration table is present, no default configuration).
    bytes.extend([1, SPEC_REVISION, 0, 0, 0, 0, 0, 0]);
    bytes[10] = checksum(&bytes);
    bytes
}

/// The "PCMP" header and its entries.
fn configuration_table() -> Vec<u8> {
    let mut entries = Vec::new();
    let mut count: u16 = 0;
    let mut add = |entry: Vec<u8>| {
        entries.extend(entry);
        count += 1;
    };
    // The boot processor: local APIC id 0, version 0x14, enabled and BSP, no signature.
    let mut cpu = vec![ENTRY_PROCESSOR, 0, 0x14, CPU_ENABLED_BSP];
    cpu.extend([0u8; 16]);
    add(cpu);
    let mut bus = vec![ENTRY_BUS, 0];
    bus.extend(b"ISA   ");
    add(bus);
    let mut ioapic = vec![ENTRY_IOAPIC, IOAPIC_ID, 0x11, 1];
    ioapic.extend(IOAPIC_ADDRESS.to_le_bytes());
    add(ioapic);
    for pin in 0..IOAPIC_PINS {
        // An ISA interrupt, conforming polarity and trigger, bus 0 IRQ `pin` → I/O APIC pin.
        add(vec![
            ENTRY_IO_INTERRUPT,
            INTERRUPT_INT,
            0,
            0,
            0,
            pin,
            IOAPIC_ID,
            pin,
        ]);
    }
    // The 8259's output on every local APIC's LINT0, NMI on LINT1.
    add(vec![
        ENTRY_LOCAL_INTERRUPT,
        INTERRUPT_EXTINT,
        0,
        0,
        0,
        0,
        0xff,
        0,
    ]);
    add(vec![
        ENTRY_LOCAL_INTERRUPT,
        INTERRUPT_NMI,
        0,
        0,
        0,
        0,
        0xff,
        1,
    ]);

    let length = (44 + entries.len()) as u16;
    let mut table = b"PCMP".to_vec();
    table.extend(length.to_le_bytes());
    table.extend([SPEC_REVISION, 0]); // revision, checksum (below)
    table.extend(b"ISOBENCH");
    table.extend(b"isobench-vmm");
    table.extend(0u32.to_le_bytes()); // no OEM table
    table.extend(0u16.to_le_bytes());
    table.extend(count.to_le_bytes());
    table.extend(LAPIC_ADDRESS.to_le_bytes());
    table.extend([0u8; 4]); // extended table length, checksum, reserved
    table.extend(entries);
    table[7] = checksum(&table);
    table
}

/// The byte that makes the sum of `bytes` (with that byte still 0) zero.
fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |sum, b| sum.wrapping_sub(*b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums_to_zero(bytes: &[u8]) -> bool {
        bytes.iter().fold(0u8, |sum, b| sum.wrapping_add(*b)) == 0
    }

    #[test]
    fn both_structures_are_well_formed() {
        let pointer = floating_pointer(0x9fc10);
        assert_eq!((pointer.len(), &pointer[..4]), (16, &b"_MP_"[..]));
        assert!(sums_to_zero(&pointer));
        let table = configuration_table();
        assert_eq!(&table[..4], b"PCMP");
        assert_eq!(
            u16::from_le_bytes([table[4], table[5]]) as usize,
            table.len()
        );
        // One CPU (20 bytes), one bus, one I/O APIC, 24 + 2 interrupt entries (8 bytes each).
        assert_eq!(table.len(), 44 + 20 + 8 * (1 + 1 + 24 + 2));
        assert_eq!(
            u16::from_le_bytes([table[34], table[35]]),
            1 + 1 + 1 + 24 + 2
        );
        assert!(sums_to_zero(&table));
        assert!(MPTABLE_START as usize + 16 + table.len() <= 0xa0000);
    }
}
