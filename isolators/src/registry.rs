//! Every isolator isobench knows, in table order, built from the user's options.
use crate::container::ContainerIsolator;
use crate::isolator::Isolator;
use crate::microvm::{MicrovmIsolator, MicrovmRestoreIsolator, VmGuest};
pub use crate::options::IsolatorOptions;
use crate::process::ProcessIsolator;

/// All isolators, in the order the comparison table shows them.
pub fn all(options: &IsolatorOptions) -> Vec<Box<dyn Isolator>> {
    let mut isolators: Vec<Box<dyn Isolator>> = vec![
        Box::new(ProcessIsolator::with_user(options.user.clone())),
        Box::new(ContainerIsolator::new().with_user(options.user.clone())),
        Box::new(
            MicrovmIsolator::new(VmGuest::Bare, None, options.vm_mem_mib)
                .with_user(options.user.clone()),
        ),
        Box::new(MicrovmRestoreIsolator::new(options.vm_mem_mib).with_user(options.user.clone())),
        Box::new(
            MicrovmRestoreIsolator::prestarted(options.vm_mem_mib).with_user(options.user.clone()),
        ),
        Box::new(
            MicrovmIsolator::new(VmGuest::Linux, options.kernel.clone(), options.vm_mem_mib)
                .with_user(options.user.clone()),
        ),
        Box::new(
            MicrovmRestoreIsolator::linux(options.kernel.clone(), options.vm_mem_mib)
                .with_user(options.user.clone()),
        ),
    ];
    isolators.extend(crate::external::all(options));
    isolators
}

/// Every name `all` can return, for `--isolators` validation and help text.
pub fn names(options: &IsolatorOptions) -> Vec<String> {
    all(options).iter().map(|i| i.name().to_string()).collect()
}

/// The names `--engine NAME=PATH` accepts: every isolator that runs an external engine (the
/// native ones, process, container and microvm, run isobench's own code).
pub fn engine_names() -> Vec<String> {
    crate::external::all(&IsolatorOptions::default())
        .iter()
        .map(|i| i.name().to_string())
        .collect()
}

/// Whether any of `isolators` boots a Linux kernel, the only ones `--kernel` shapes.
pub fn any_boots_linux(isolators: &[Box<dyn Isolator>]) -> bool {
    isolators
        .iter()
        .any(|i| i.guest() == crate::GuestKind::Linux)
}
