//! `isobench` as a library: the runner, trials, statistics and host fingerprint behind the
//! CLI and the criterion benches.
pub mod burst;
pub mod compare;
pub mod density;
pub mod fingerprint;
pub mod guest_kernel;
pub mod host_cost;
pub mod host_meter;
pub mod output;
pub mod record;
pub mod runner;
pub mod stats;
pub mod trial;
