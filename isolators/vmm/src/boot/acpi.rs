//! Minimal ACPI tables for Linux guests, from rust-vmm's `acpi_tables` crate (the same blocks
//! Cloud Hypervisor uses): RSDP → XSDT → FADT (hardware-reduced: no PM timer, no SCI, no
//! legacy ports) whose DSDT describes COM1 (in hardware-reduced mode Linux maps no ISA IRQ it
//! is not told about), and a MADT naming the one local APIC and the in-kernel I/O APIC.
//! Kernels built without MP-table support (Debian's cloud kernel) otherwise stay in
//! virtual-wire mode and take every interrupt through the 8259.
use acpi_tables::aml::{Device, EISAName, Interrupt, Name, ResourceTemplate, IO};
use acpi_tables::fadt::{FADTBuilder, Flags};
use acpi_tables::madt::{
    EnabledStatus, IoApic, LocalInterruptController, ProcessorLocalApic, MADT,
};
use acpi_tables::rsdp::Rsdp;
use acpi_tables::sdt::Sdt;
use acpi_tables::xsdt::XSDT;
use acpi_tables::Aml;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

use crate::error::{Error, Result};

/// Where the RSDP goes: the legacy BIOS area, outside RAM in our memory map. The other
/// tables follow it, each 16-byte aligned.
pub const RSDP_ADDRESS: u64 = 0xe_0000;
const OEM_ID: [u8; 6] = *b"ISOBEN";
const OEM_TABLE_ID: [u8; 8] = *b"ISOBENCH";
const OEM_REVISION: u32 = 1;
const LAPIC_ADDRESS: u32 = 0xfee0_0000;
const IOAPIC_ADDRESS: u32 = 0xfec0_0000;
/// The I/O APIC's id: after the one CPU's.
const IOAPIC_ID: u8 = 1;
/// DSDT revision 6 (ACPI 6): 64-bit AML integers.
const DSDT_REVISION: u8 = 6;

/// Writes the tables and returns the RSDP's guest-physical address.
pub fn write(memory: &GuestMemoryMmap) -> Result<u64> {
    let mut next = RSDP_ADDRESS + 64;
    let mut place = |bytes: &[u8]| -> Result<u64> {
        let address = next;
        memory
            .write_slice(bytes, GuestAddress(address))
            .map_err(|e| Error::Boot(format!("ACPI tables: {e}")))?;
        next = (address + bytes.len() as u64 + 15) & !15;
        Ok(address)
    };
    let dsdt = place(&dsdt())?;
    let fadt = FADTBuilder::new(OEM_ID, OEM_TABLE_ID, OEM_REVISION)
        .dsdt_64(dsdt)
        .flag(Flags::HwReducedAcpi)
        .finalize();
    let fadt = place(&bytes(&fadt))?;
    let mut madt = MADT::new(
        OEM_ID,
        OEM_TABLE_ID,
        OEM_REVISION,
        LocalInterruptController::Address(LAPIC_ADDRESS),
    );
    madt.add_structure(ProcessorLocalApic::new(0, 0, EnabledStatus::Enabled));
    madt.add_structure(IoApic::new(IOAPIC_ID, IOAPIC_ADDRESS, 0));
    let madt = place(&bytes(&madt))?;
    let mut xsdt = XSDT::new(OEM_ID, OEM_TABLE_ID, OEM_REVISION);
    xsdt.add_entry(fadt);
    xsdt.add_entry(madt);
    let xsdt = place(&bytes(&xsdt))?;
    memory
        .write_slice(&bytes(&Rsdp::new(OEM_ID, xsdt)), GuestAddress(RSDP_ADDRESS))
        .map_err(|e| Error::Boot(format!("ACPI RSDP: {e}")))?;
    Ok(RSDP_ADDRESS)
}

/// The DSDT: COM1 at 0x3f8 on (edge, active-high) IRQ 4, as our 16550 is wired.
fn dsdt() -> Vec<u8> {
    let mut table = Sdt::new(
        *b"DSDT",
        36,
        DSDT_REVISION,
        OEM_ID,
        OEM_TABLE_ID,
        OEM_REVISION,
    );
    let irq = Interrupt::new(true, true, false, false, crate::devices::serial::IRQ);
    let ports = IO::new(
        crate::devices::serial::BASE,
        crate::devices::serial::BASE,
        1,
        8,
    );
    let resources = ResourceTemplate::new(vec![&irq, &ports]);
    let hid = EISAName::new("PNP0501");
    let uid: u8 = 0;
    let hid = Name::new("_HID".into(), &hid);
    let uid = Name::new("_UID".into(), &uid);
    let crs = Name::new("_CRS".into(), &resources);
    let com1 = Device::new("_SB_.COM1".into(), vec![&hid, &uid, &crs]);
    com1.to_aml_bytes(&mut table);
    table.update_checksum();
    table.as_slice().to_vec()
}

fn bytes(table: &dyn Aml) -> Vec<u8> {
    let mut out = Vec::new();
    table.to_aml_bytes(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tables_fit_below_the_bios_rom_and_checksum() {
        let ranges = [(GuestAddress(0), 0x10_0000usize)];
        let memory = GuestMemoryMmap::<()>::from_ranges(&ranges).unwrap();
        assert_eq!(write(&memory).unwrap(), RSDP_ADDRESS);
        let mut rsdp = [0u8; 36];
        memory
            .read_slice(&mut rsdp, GuestAddress(RSDP_ADDRESS))
            .unwrap();
        assert_eq!(&rsdp[..8], b"RSD PTR ");
        let sum = |b: &[u8]| b.iter().fold(0u8, |s, x| s.wrapping_add(*x));
        assert_eq!(sum(&rsdp[..20]), 0, "RSDP v1 checksum");
        assert_eq!(sum(&rsdp), 0, "RSDP extended checksum");
        let xsdt = u64::from_le_bytes(rsdp[24..32].try_into().unwrap());
        let mut header = [0u8; 36];
        memory.read_slice(&mut header, GuestAddress(xsdt)).unwrap();
        assert_eq!(&header[..4], b"XSDT");
        let length = u32::from_le_bytes(header[4..8].try_into().unwrap()) as usize;
        let mut table = vec![0u8; length];
        memory.read_slice(&mut table, GuestAddress(xsdt)).unwrap();
        assert_eq!(sum(&table), 0, "XSDT checksum");
        assert!(xsdt + length as u64 <= 0xf_0000);
    }
}
