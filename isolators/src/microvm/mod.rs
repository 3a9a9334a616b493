//! The `microvm` isolators: one `isobench-vmm` process per instance, booting the bare or Linux
//! guest, or restoring the bare guest from a snapshot (`microvm-restore`).
mod asm;
pub mod bare_guest;
pub mod bare_work;
mod console;
pub mod cpio;
pub mod elf;
pub mod guest;
mod instance;
mod isolator;
mod prestart;
pub mod report;
mod restore;
pub mod user_guest;
pub mod user_initramfs;
mod vmm_binary;

pub use guest::GuestImage;
pub use instance::{launch_vm, launch_vm_from, MicrovmInstance, VmSpec, VmStart};
pub use isolator::{MicrovmIsolator, VmGuest};
pub use restore::MicrovmRestoreIsolator;
pub use vmm_binary::find_vmm;
