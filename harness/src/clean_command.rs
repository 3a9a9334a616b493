//! `isobench clean`, and the same clean-up at the start of `run` and `density`: remove the
//! cgroups, scratch dirs and mounts that isobench processes killed without cleaning up left
//! behind (see `isolators::orphans`).
use std::process::ExitCode;

use anyhow::Result;
use isolators::orphans;

/// `isobench clean`: prints what it removed, or "nothing to clean"; exits 1 when something
/// found could not be removed.
pub fn run() -> Result<ExitCode> {
    let reaped = orphans::reap();
    if reaped.is_empty() {
        println!("nothing to clean");
        return Ok(ExitCode::SUCCESS);
    }
    for line in reaped.lines() {
        println!("{line}");
    }
    Ok(if reaped.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Before `run` and `density`: one line on stderr, only when something was removed (or found
/// and could not be).
pub fn at_start() {
    let reaped = orphans::reap();
    if !reaped.is_empty() {
        eprintln!("isobench: {}", reaped.summary());
    }
}
