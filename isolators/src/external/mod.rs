//! Adapters for real engines found on the host, in four families, each one generic isolator
//! over a small profile: [`oci`] (runc, crun, runsc), [`engines`] (docker, podman),
//! [`rootfs`] (unshare, bwrap) and [`vmms`] (qemu -M microvm, Firecracker, Cloud Hypervisor),
//! plus [`lxc`] (LXC's `lxc-start` over a generated container config).
//!
//! Each adapter drives the engine's own command line, the way a user would, and observes the
//! same probe as every other isolator. Shared pieces: [`engine`] (finding and versioning the
//! binary), [`spawned`] (one engine process per instance, its ready channel and its process
//! tree), [`procs`] (walking /proc).
pub mod engine;
pub mod engines;
pub mod lxc;
pub mod oci;
pub mod procs;
pub mod rootfs;
pub mod spawned;
pub mod stdio_channel;
pub mod vmms;

use crate::isolator::Isolator;
use crate::options::IsolatorOptions;

/// Every external adapter, in table order (containers, sandbox, bare-guest VMs, Linux VMs).
pub fn all(options: &IsolatorOptions) -> Vec<Box<dyn Isolator>> {
    vec![
        Box::new(rootfs::unshare::UnshareIsolator::new(options)),
        Box::new(rootfs::bwrap::BwrapIsolator::new(options)),
        Box::new(oci::runc::runc(options)),
        Box::new(oci::crun::crun(options)),
        Box::new(lxc::LxcIsolator::new(options)),
        Box::new(engines::docker::docker(options)),
        Box::new(engines::podman::podman(options)),
        Box::new(oci::runsc::runsc(options)),
        Box::new(vmms::qemu::qemu_microvm(options)),
        Box::new(vmms::firecracker::firecracker(options)),
        Box::new(vmms::firecracker_restore::firecracker_restore(options)),
        Box::new(vmms::cloud_hypervisor::cloud_hypervisor(options)),
        Box::new(vmms::qemu::qemu_microvm_linux(options)),
        Box::new(vmms::firecracker::firecracker_linux(options)),
        Box::new(vmms::cloud_hypervisor::cloud_hypervisor_linux(options)),
        Box::new(vmms::qemu::qemu_tcg(options)),
    ]
}
