//! The few devices a microVM needs, on the port I/O bus.
pub mod i8042;
pub mod serial;

/// Firecracker's boot-timer port: the guest writes [`BOOT_TIMER_VALUE`] here when ready.
pub const BOOT_TIMER_PORT: u16 = 0x3f0;
pub const BOOT_TIMER_VALUE: u8 = 123;
/// QEMU's isa-debug-exit port: any write ends the VM.
pub const EXIT_PORT: u16 = 0xf4;
