//! Interrupts of the CLI: SIGINT, SIGTERM and SIGHUP set a stop flag (the work in flight
//! finishes, cleans up and is written), and the exit status names the signal that arrived.
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// The first stopping signal that arrived, 0 before any.
static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// A flag the stopping signals set. signal-hook's iterator runs the reaction on a thread of its
/// own (the signal handler itself only writes to a pipe), so printing there is safe.
pub fn flag() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut signals =
        Signals::new([SIGINT, SIGTERM, SIGHUP]).context("cannot install the signal handlers")?;
    let handler_stop = Arc::clone(&stop);
    std::thread::Builder::new()
        .name("isobench-signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                let _ = RECEIVED.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
                if !handler_stop.swap(true, Ordering::SeqCst) {
                    eprintln!("\nisobench: interrupted — finishing the work in flight, cleaning up and writing results");
                }
            }
        })
        .context("cannot start the signal thread")?;
    Ok(stop)
}

/// The exit status of a run a signal stopped, after its results were written: 128 + the
/// signal's number, as a shell reports a process that signal killed (130 for Ctrl-C, 143 for
/// SIGTERM); 130 if the flag was set without a signal.
pub fn exit_code() -> ExitCode {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => ExitCode::from(128 + SIGINT as u8),
        signal => ExitCode::from(128u8.saturating_add(signal as u8)),
    }
}
