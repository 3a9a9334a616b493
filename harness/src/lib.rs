//! `isobench` as a library: the runner, trials, statistics and host fingerprint behind the
//! CLI and the criterion benches.
pub mod burst;
pub mod checkpoint;
pub mod columns;
pub mod compare;
pub mod density;
pub mod density_limits;
pub mod fingerprint;
pub mod guest_kernel;
pub mod host_cost;
pub mod host_meter;
pub mod output;
pub mod preflight;
pub mod record;
pub mod run_dir;
pub mod runner;
pub mod stats;
pub mod trial;
