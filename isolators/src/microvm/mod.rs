//! The `microvm` isolator: one `isobench-vmm` process per instance, booting the bare or Linux guest.
mod asm;
pub mod bare_guest;
pub mod bare_work;
mod console;
pub mod cpio;
pub mod elf;
pub mod guest;
mod instance;
mod isolator;
mod report;

pub use guest::GuestImage;
pub use instance::{launch_vm, MicrovmInstance, VmSpec};
pub use isolator::{find_vmm, MicrovmIsolator, VmGuest};
