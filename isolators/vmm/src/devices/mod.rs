//! The few devices a microVM needs, on the port I/O bus (and, with a split irqchip, the I/O
//! APIC's MMIO registers).
//!
//! The boot timer (port 0x3f0: 123 ready, 124/125 work stamps) and the exit port (0xf4) are
//! no devices of their own: the run loop in `vm.rs` handles them, with the ports and values
//! from `isobench_protocol`.
pub mod i8042;
pub mod ioapic;
pub mod serial;
