//! The I/O APIC in the VMM, for a VM with a *split* irqchip (`--split-irqchip`): the local APIC
//! stays in KVM, this models the I/O APIC's registers at 0xfec00000, and each unmasked
//! redirection entry becomes an MSI route, so the serial irqfd on GSI 4 reaches the guest's
//! local APIC straight from the kernel.
//!
//! Why: `KVM_CREATE_IRQCHIP` registers the PIC, ELCR and I/O APIC on the VM's I/O buses, and
//! on Linux 6.18 each registration frees the bus it replaced after a normal SRCU grace period,
//! which a VM ending within a few milliseconds then waits for as it is destroyed (see the
//! README, "Teardown: where the time goes"). With a split irqchip nothing is registered.
//! QEMU's `-M microvm` does the same. Edge-triggered pins only: isobench's bare guest (the
//! guest this mode is for) programs COM1 edge-triggered, and a level-triggered entry is routed
//! like an edge one (no remote IRR, no EOI broadcast). No PIC: port writes to it are ignored
//! and reads give 0xff, as for any port without a device. A snapshot of such a VM keeps these
//! registers (`snapshot::state::Chips::Split`) and a restore routes them again.
use kvm_bindings::{
    kvm_enable_cap, kvm_irq_routing_entry, KvmIrqRouting, KVM_CAP_SPLIT_IRQCHIP,
    KVM_IRQ_ROUTING_MSI,
};
use kvm_ioctls::VmFd;

use crate::error::{Error, Result};

/// The guest-physical page of the registers.
pub const BASE: u64 = 0xfec0_0000;
/// Register window bytes: index at +0x00, data at +0x10 (and the EOI register at +0x40).
const WINDOW_BYTES: u64 = 0x100;
const INDEX: u64 = 0x00;
const DATA: u64 = 0x10;
/// Pins of a classic 82093AA, the number KVM reserves routes for.
pub const PINS: usize = 24;
/// Version register: version 0x11, highest redirection entry 23.
const VERSION: u32 = 0x11 | ((PINS as u32 - 1) << 16);
/// A redirection entry's mask bit, and its reset state (masked).
const MASKED: u64 = 1 << 16;
/// The local APIC's MSI address window.
const MSI_ADDRESS: u32 = 0xfee0_0000;

/// Turns the VM's irqchip into a split one: only the local APIC in the kernel, with routes
/// for `PINS` I/O APIC pins. Call before any vCPU exists.
pub fn enable_split_irqchip(vm: &VmFd) -> Result<()> {
    let mut cap = kvm_enable_cap {
        cap: KVM_CAP_SPLIT_IRQCHIP,
        ..Default::default()
    };
    cap.args[0] = PINS as u64;
    vm.enable_cap(&cap).map_err(|source| Error::Kvm {
        what: "enable the split irqchip",
        source,
    })
}

/// The registers, and the routes they imply. A snapshot keeps all three fields as they are.
#[derive(Clone, Debug, PartialEq)]
pub struct Ioapic {
    pub index: u32,
    pub id: u32,
    pub redirection: [u64; PINS],
}

impl Default for Ioapic {
    fn default() -> Self {
        Ioapic {
            index: 0,
            id: 0,
            redirection: [MASKED; PINS],
        }
    }
}

impl Ioapic {
    /// Whether a guest-physical address is one of ours.
    pub fn claims(address: u64) -> bool {
        (BASE..BASE + WINDOW_BYTES).contains(&address)
    }

    pub fn read(&self, address: u64, data: &mut [u8]) {
        let value = match address - BASE {
            INDEX => self.index,
            DATA => self.register(),
            _ => 0,
        };
        let bytes = value.to_le_bytes();
        for (i, byte) in data.iter_mut().enumerate() {
            *byte = bytes.get(i).copied().unwrap_or(0);
        }
    }

    /// A guest write; returns whether a redirection entry changed (then call [`Self::route`]).
    pub fn write(&mut self, address: u64, data: &[u8]) -> bool {
        let mut bytes = [0u8; 4];
        for (slot, byte) in bytes.iter_mut().zip(data) {
            *slot = *byte;
        }
        let value = u32::from_le_bytes(bytes);
        match address - BASE {
            INDEX => self.index = value & 0xff,
            DATA => return self.set_register(value),
            _ => {}
        }
        false
    }

    fn register(&self) -> u32 {
        match self.index {
            0 => self.id << 24,
            1 => VERSION,
            2 => self.id << 24,
            index => match self.entry_half(index) {
                Some((pin, true)) => (self.redirection[pin] >> 32) as u32,
                Some((pin, false)) => self.redirection[pin] as u32,
                None => 0,
            },
        }
    }

    fn set_register(&mut self, value: u32) -> bool {
        match (self.index, self.entry_half(self.index)) {
            (0, _) => self.id = (value >> 24) & 0xf,
            (_, Some((pin, high))) => {
                let old = self.redirection[pin];
                self.redirection[pin] = match high {
                    true => (old & 0xffff_ffff) | (u64::from(value) << 32),
                    false => (old & !0xffff_ffff) | u64::from(value),
                };
                return self.redirection[pin] != old;
            }
            _ => {}
        }
        false
    }

    /// The pin and half (high?) a register index selects: 0x10 + 2 × pin (+1 for the high half).
    fn entry_half(&self, index: u32) -> Option<(usize, bool)> {
        let offset = index.checked_sub(0x10)? as usize;
        (offset < 2 * PINS).then_some((offset / 2, offset % 2 == 1))
    }

    /// One MSI route per unmasked pin: GSI = pin, to the entry's destination and vector.
    pub fn routes(&self) -> Vec<kvm_irq_routing_entry> {
        let mut routes = Vec::new();
        for (pin, &entry) in self.redirection.iter().enumerate() {
            if entry & MASKED != 0 {
                continue;
            }
            let mut route = kvm_irq_routing_entry {
                gsi: pin as u32,
                type_: KVM_IRQ_ROUTING_MSI,
                ..Default::default()
            };
            let destination = (entry >> 56) as u32;
            let logical = ((entry >> 11) & 1) as u32;
            route.u.msi.address_lo = MSI_ADDRESS | (destination << 12) | (logical << 2);
            // Vector (bits 0–7) and delivery mode (8–10) sit where an MSI's data has them.
            route.u.msi.data = (entry & 0x7ff) as u32;
            routes.push(route);
        }
        routes
    }

    /// Hands the routes to KVM (replacing every earlier one).
    pub fn route(&self, vm: &VmFd) -> Result<()> {
        let routing = KvmIrqRouting::from_entries(&self.routes())
            .map_err(|e| Error::Boot(format!("I/O APIC routes: {e:?}")))?;
        vm.set_gsi_routing(&routing).map_err(|source| Error::Kvm {
            what: "route the I/O APIC's pins",
            source,
        })
    }
}

/// The I/O APIC of a running VM: guest accesses to its registers, and its routes kept in KVM.
pub struct RoutedIoapic<'vm> {
    registers: Ioapic,
    vm: &'vm VmFd,
}

impl<'vm> RoutedIoapic<'vm> {
    pub fn new(vm: &'vm VmFd) -> RoutedIoapic<'vm> {
        RoutedIoapic {
            registers: Ioapic::default(),
            vm,
        }
    }

    /// A restored I/O APIC: `registers` from a snapshot, their routes handed to KVM at once.
    pub fn restore(vm: &'vm VmFd, registers: Ioapic) -> Result<RoutedIoapic<'vm>> {
        registers.route(vm)?;
        Ok(RoutedIoapic { registers, vm })
    }

    /// The registers as the guest left them, for a snapshot.
    pub fn registers(&self) -> &Ioapic {
        &self.registers
    }

    /// Handles an MMIO read if it is one of ours; false leaves it to the caller.
    pub fn mmio_read(&self, address: u64, data: &mut [u8]) -> bool {
        let ours = Ioapic::claims(address);
        if ours {
            self.registers.read(address, data);
        }
        ours
    }

    /// Handles an MMIO write if it is one of ours (rerouting when an entry changed).
    pub fn mmio_write(&mut self, address: u64, data: &[u8]) -> Result<bool> {
        if !Ioapic::claims(address) {
            return Ok(false);
        }
        if self.registers.write(address, data) {
            self.registers.route(self.vm)?;
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write32(ioapic: &mut Ioapic, offset: u64, value: u32) -> bool {
        ioapic.write(BASE + offset, &value.to_le_bytes())
    }

    fn read32(ioapic: &Ioapic, offset: u64) -> u32 {
        let mut bytes = [0u8; 4];
        ioapic.read(BASE + offset, &mut bytes);
        u32::from_le_bytes(bytes)
    }

    #[test]
    fn version_and_masked_reset_state() {
        let mut ioapic = Ioapic::default();
        write32(&mut ioapic, INDEX, 1);
        assert_eq!(read32(&ioapic, DATA), 0x0017_0011);
        write32(&mut ioapic, INDEX, 0x10 + 2 * 23);
        assert_eq!(read32(&ioapic, DATA), 1 << 16, "pins start masked");
        assert!(ioapic.routes().is_empty());
    }

    #[test]
    fn an_unmasked_entry_becomes_an_msi_route_to_its_destination() {
        // What isobench's bare guest does for COM1: destination APIC id 0, vector 0x24.
        let mut ioapic = Ioapic::default();
        write32(&mut ioapic, INDEX, 0x10 + 2 * 4 + 1);
        assert!(write32(&mut ioapic, DATA, 3 << 24), "high half changed");
        write32(&mut ioapic, INDEX, 0x10 + 2 * 4);
        assert!(write32(&mut ioapic, DATA, 0x24), "unmasked");
        assert!(!write32(&mut ioapic, DATA, 0x24), "same value: no change");
        assert_eq!(read32(&ioapic, DATA), 0x24);
        let routes = ioapic.routes();
        assert_eq!(routes.len(), 1);
        assert_eq!(routes[0].gsi, 4);
        assert_eq!(routes[0].type_, KVM_IRQ_ROUTING_MSI);
        // SAFETY: reading the union member this module wrote.
        let msi = unsafe { routes[0].u.msi };
        assert_eq!(msi.address_lo, 0xfee0_3000);
        assert_eq!(msi.data, 0x24);
    }

    #[test]
    fn masking_removes_the_route_and_ids_read_back() {
        let mut ioapic = Ioapic::default();
        write32(&mut ioapic, INDEX, 0x10 + 2 * 4);
        write32(&mut ioapic, DATA, 0x30);
        assert_eq!(ioapic.routes().len(), 1);
        write32(&mut ioapic, DATA, 0x30 | (1 << 16));
        assert!(ioapic.routes().is_empty());
        write32(&mut ioapic, INDEX, 0);
        write32(&mut ioapic, DATA, 5 << 24);
        assert_eq!(read32(&ioapic, DATA), 5 << 24);
        assert_eq!(read32(&ioapic, INDEX), 0);
        assert!(Ioapic::claims(BASE + DATA) && !Ioapic::claims(BASE + WINDOW_BYTES));
    }
}
