//! The few devices a microVM needs, on the port I/O bus.
pub mod i8042;
pub mod serial;

/// Firecracker's boot-timer port: the guest writes [`BOOT_TIMER_VALUE`] here when ready.
pub const BOOT_TIMER_PORT: u16 = 0x3f0;
pub const BOOT_TIMER_VALUE: u8 = 123;
/// Work stamps on the same port (isobench's bare guest): 124 as its work begins, 125 as it
/// ends; reported as the phases `guest-work-begin` and `guest-work-end`.
pub const WORK_BEGIN_VALUE: u8 = 124;
pub const WORK_END_VALUE: u8 = 125;
/// QEMU's isa-debug-exit port: any write ends the VM.
pub const EXIT_PORT: u16 = 0xf4;
