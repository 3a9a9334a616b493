//! `isobench-vmm` as a library: a small KVM VMM on rust-vmm crates, one VM per process.
//!
//! Read top to bottom: [`config`] (what the VM looks like), [`vm::run`] (KVM set-up, [`memory`],
//! [`boot`], [`cpu`], [`devices`], the vCPU loop), [`report`] (the harness's pipe); warm starts:
//! [`snapshot`] (the format, taking one at the ready point) and [`restore::run`]; the end:
//! [`teardown`] (how the VM is handed back to the kernel, and why in that order).
pub mod boot;
pub mod config;
pub mod cpu;
pub mod devices;
pub mod error;
pub mod layout;
pub mod memory;
pub mod report;
pub mod restore;
pub mod snapshot;
pub mod teardown;
pub mod vm;
