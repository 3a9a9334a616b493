//! Which isolators a command measures: the names given with `-i`, checked against the
//! registry in one place for `run` and `density`.
use anyhow::{bail, Result};
use isolators::registry::{self, IsolatorOptions};
use isolators::Isolator;

/// Checks that every name is an isolator of the registry, or "all".
pub fn check_names(names: &[String], options: &IsolatorOptions) -> Result<()> {
    let known = registry::names(options);
    for name in names.iter().filter(|n| *n != "all") {
        if !known.contains(name) {
            bail!(
                "unknown isolator {name:?}: choose from {} (or all); `isobench list` shows them",
                known.join(", ")
            );
        }
    }
    Ok(())
}

/// `isobench run`: the isolators named (every one for "all") in registry order, always with
/// the process baseline.
pub fn for_run(names: &[String], options: &IsolatorOptions) -> Result<Vec<Box<dyn Isolator>>> {
    check_names(names, options)?;
    let wants_all = names.iter().any(|n| n == "all");
    let isolators: Vec<_> = registry::all(options)
        .into_iter()
        .filter(|i| wants_all || i.name() == "process" || names.iter().any(|n| n == i.name()))
        .collect();
    check_kernel_used(&isolators, options)?;
    Ok(isolators)
}

/// `isobench density`: the names in the order given ("all": every isolator, registry order).
pub fn for_density(names: &[String], options: &IsolatorOptions) -> Result<Vec<String>> {
    check_names(names, options)?;
    let names = if names.iter().any(|n| n == "all") {
        registry::names(options)
    } else {
        names.to_vec()
    };
    let isolators: Vec<_> = names.iter().map(|n| fresh(n, options)).collect();
    check_kernel_used(&isolators, options)?;
    Ok(names)
}

/// `--kernel` with no Linux-guest isolator selected would be silently ignored (`microvm`
/// boots isobench's bare guest, never a kernel): an error rather than a warning, because the
/// user asked for a kernel to be measured and no result of this selection would include it.
fn check_kernel_used(isolators: &[Box<dyn Isolator>], options: &IsolatorOptions) -> Result<()> {
    match &options.kernel {
        Some(kernel) if !registry::any_boots_linux(isolators) => {
            let linux: Vec<String> = registry::all(options)
                .iter()
                .filter(|i| i.guest() == isolators::GuestKind::Linux)
                .map(|i| i.name().to_string())
                .collect();
            bail!(
                "--kernel {}: no selected isolator boots a Linux kernel (microvm runs the bare guest) — add one of {} to -i, or drop --kernel",
                kernel.display(),
                linux.join(", ")
            )
        }
        _ => Ok(()),
    }
}

/// A fresh isolator called `name`, a name [`check_names`] accepted.
pub fn fresh(name: &str, options: &IsolatorOptions) -> Box<dyn Isolator> {
    registry::all(options)
        .into_iter()
        .find(|i| i.name() == name)
        .expect("the name was checked against the registry")
}
