//! Adapters for real engines found on the host: crun, runc, runsc, bwrap, unshare, qemu, firecracker, cloud-hypervisor, podman, docker.
//!
//! Each adapter drives the engine's own command line, the way a user would, and observes the
//! same probe as every other isolator. Shared pieces: [`engine`] (finding and versioning the
//! binary), [`spawned`] (one engine process per instance, its ready channel and its process
//! tree), [`procs`] (walking /proc).
pub mod bwrap;
pub mod cli_support;
pub mod cloud_hypervisor;
pub mod crun;
pub mod docker;
pub mod engine;
pub mod firecracker;
pub mod oci;
pub mod oci_bundle;
pub mod oci_isolator;
pub mod podman;
pub mod procs;
pub mod qemu;
pub mod runc;
pub mod runsc;
pub mod simple;
pub mod spawned;
pub mod unshare;
pub mod vm;

use crate::isolator::Isolator;
use crate::registry::RegistryOptions;

/// Every external adapter, in table order (containers, sandbox, microVMs).
pub fn all(options: &RegistryOptions) -> Vec<Box<dyn Isolator>> {
    vec![
        Box::new(unshare::UnshareIsolator::new(options)),
        Box::new(bwrap::BwrapIsolator::new(options)),
        Box::new(runc::runc(options)),
        Box::new(crun::crun(options)),
        Box::new(docker::docker(options)),
        Box::new(podman::podman(options)),
        Box::new(runsc::runsc(options)),
        Box::new(qemu::QemuMicrovmIsolator::new(options)),
        Box::new(firecracker::FirecrackerIsolator::new(options)),
        Box::new(cloud_hypervisor::CloudHypervisorIsolator::new(options)),
    ]
}
