//! OCI runtimes found on the host — runc, crun, runsc — each an [`isolator::OciProfile`] under
//! one [`isolator::OciIsolator`] that writes a bundle per instance and runs `<runtime> run`.
pub mod bundle;
pub mod crun;
pub mod instance;
pub mod isolator;
pub mod runc;
pub mod runsc;
pub mod runtime;

pub use bundle::{cgroup_parent_dirs, probe_spec, OciChannel, CGROUP_PARENT};
pub use isolator::{OciIsolator, OciProfile};
pub use runtime::{leftover_containers, state_root_in, PreparedOci};
