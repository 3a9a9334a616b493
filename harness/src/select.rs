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
    Ok(registry::all(options)
        .into_iter()
        .filter(|i| wants_all || i.name() == "process" || names.iter().any(|n| n == i.name()))
        .collect())
}

/// `isobench density`: the names in the order given ("all": every isolator, registry order).
pub fn for_density(names: &[String], options: &IsolatorOptions) -> Result<Vec<String>> {
    check_names(names, options)?;
    Ok(if names.iter().any(|n| n == "all") {
        registry::names(options)
    } else {
        names.to_vec()
    })
}

/// A fresh isolator called `name`, a name [`check_names`] accepted.
pub fn fresh(name: &str, options: &IsolatorOptions) -> Box<dyn Isolator> {
    registry::all(options)
        .into_iter()
        .find(|i| i.name() == name)
        .expect("the name was checked against the registry")
}
