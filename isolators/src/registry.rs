//! Every isolator isobench knows, in table order, built from the user's options.
use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::container::ContainerIsolator;
use crate::isolator::Isolator;
use crate::microvm::{GuestKind, MicrovmIsolator};
use crate::process::ProcessIsolator;

/// Options that shape which isolators exist and how they run.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// `--engine NAME=PATH` overrides.
    pub engine_paths: BTreeMap<String, PathBuf>,
    /// `--kernel` for Linux guests.
    pub kernel: Option<PathBuf>,
    /// Guest memory for VM isolators, MiB.
    pub vm_mem_mib: Option<u32>,
}

/// All isolators, in the order the comparison table shows them.
pub fn all(options: &RegistryOptions) -> Vec<Box<dyn Isolator>> {
    let mut isolators: Vec<Box<dyn Isolator>> = vec![
        Box::new(ProcessIsolator::default()),
        Box::new(ContainerIsolator::new()),
        Box::new(MicrovmIsolator::new(
            GuestKind::Bare,
            None,
            options.vm_mem_mib,
        )),
        Box::new(MicrovmIsolator::new(
            GuestKind::Linux,
            options.kernel.clone(),
            options.vm_mem_mib,
        )),
    ];
    isolators.extend(crate::external::all(options));
    isolators
}

/// Every name `all` can return, for `--isolators` validation and help text.
pub fn names(options: &RegistryOptions) -> Vec<String> {
    all(options).iter().map(|i| i.name().to_string()).collect()
}
