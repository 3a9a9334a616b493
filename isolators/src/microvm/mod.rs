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
pub mod report;
mod vmm_binary;

pub use guest::GuestImage;
pub use instance::{launch_vm, MicrovmInstance, VmSpec};
pub use isolator::{MicrovmIsolator, VmGuest};
pub use vmm_binary::find_vmm;
