//! The `microvm` isolator: one `isobench-vmm` process per instance, booting the bare or Linux guest.
mod asm;
pub mod bare_guest;
pub mod cpio;
pub mod elf;
pub mod guest;
mod isolator;
mod report;

pub use isolator::{find_vmm, GuestKind, MicrovmIsolator};
