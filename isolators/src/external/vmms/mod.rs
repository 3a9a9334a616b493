//! VMMs found on the host — qemu -M microvm, Firecracker, Cloud Hypervisor — each a
//! [`profile::VmmProfile`] under one generic [`profile::VmmIsolator`]; and Firecracker's snapshot
//! restore ([`firecracker_restore`]) over its API socket ([`api_socket`]).
pub mod api_socket;
pub mod cloud_hypervisor;
pub mod firecracker;
pub mod firecracker_restore;
pub mod instance;
pub mod profile;
pub mod qemu;

pub use crate::microvm::guest::GuestImage;
pub use profile::{VmmGuest, VmmIsolator, VmmProfile};
