//! `isobench clean`, and the same clean-up at the start of `run` and `density`: remove the
//! cgroups, scratch dirs and mounts that isobench processes killed without cleaning up left
//! behind (see `isolators::orphans`).
use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use isolators::orphans;

/// `isobench clean`: prints what it removed, or "nothing to clean"; exits 1 when something
/// found could not be removed.
pub fn run() -> Result<ExitCode> {
    let reaped = orphans::reap();
    let lines = if reaped.is_empty() {
        vec!["nothing to clean".to_string()]
    } else {
        reaped.lines()
    };
    let mut out = std::io::stdout().lock();
    for line in lines {
        match writeln!(out, "{line}") {
            Ok(()) => {}
            // A reader that stopped early (`isobench clean | head`) wants no more lines; the
            // clean-up itself is already done.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => break,
            Err(e) => return Err(e).context("cannot write to stdout"),
        }
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
