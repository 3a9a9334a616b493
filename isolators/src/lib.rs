//! `isolators`: the [`Isolator`] contract and every backend isobench can run the probe under.
//!
//! Built in: [`process`] (the baseline), [`container`] (namespaces + cgroups + pivot_root) and
//! [`microvm`] (our own KVM VMM, `isobench-vmm`). Adapters for engines found on the host live
//! in [`external`]. This crate knows nothing of reports: it launches, measures and cleans up.
pub mod cgroup;
pub mod container;
pub mod disk;
pub mod error;
pub mod external;
pub mod fdchannel;
pub mod host;
pub mod instance_rootfs;
pub mod io_dir;
pub mod isolator;
pub mod kernel;
pub mod kvm;
pub mod memory;
pub mod microvm;
pub mod options;
pub mod orphans;
pub mod prepared;
pub mod probe;
pub mod process;
pub mod reap;
pub mod registry;
pub mod resources;
pub mod testing;
pub mod user_workload;

pub use disk::DiskFootprint;
pub use error::Error;
pub use host::Host;
pub use isobench_protocol as protocol;
pub use isolator::{
    monotonic_ns, Availability, Description, GuestKind, Instance, Isolator, KernelKind, Kind,
    Launcher, MemoryUsage, Ready, Workload,
};
pub use options::IsolatorOptions;
pub use prepared::Prepared;
pub use resources::{GuestRam, Resources};
