//! The user's options that shape which isolators exist and how they run (`--engine`,
//! `--kernel`, `--vm-mem`): read by the registry and by every adapter.
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Options that shape which isolators exist and how they run.
#[derive(Debug, Clone, Default)]
pub struct IsolatorOptions {
    /// `--engine NAME=PATH` overrides.
    pub engine_paths: BTreeMap<String, PathBuf>,
    /// `--kernel` for Linux guests.
    pub kernel: Option<PathBuf>,
    /// Guest memory for VM isolators, MiB.
    pub vm_mem_mib: Option<u32>,
    /// The user's rootfs and command (`--rootfs`, `--cmd`, `--ready`): every isolator runs it
    /// with the probe as its supervisor (`exec` mode) instead of the probe's own workload.
    pub user: Option<std::sync::Arc<crate::user_workload::UserWorkload>>,
}
