//! The probe's own end: SIGINT (Ctrl-C reaching its process group), SIGTERM or SIGHUP sent to a
//! probe supervising a command stop the command's process group first (SIGTERM, SIGKILL after
//! the grace), then end the probe with 128 + the signal, so the command and its children are
//! not left running. A probe killed with SIGKILL takes its direct child along
//! (PR_SET_PDEATHSIG); the command's own children are then the isolator's to kill.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::sys::{self, SignalSet, SIGHUP, SIGINT, SIGKILL, SIGTERM};

/// The signals that end a supervising probe.
const ENDING_SIGNALS: [i32; 3] = [SIGINT, SIGTERM, SIGHUP];
/// How often the signal thread looks whether the command is gone.
const GROUP_POLL: Duration = Duration::from_millis(5);
/// How long the command may take to go after SIGKILL.
const KILL_LIMIT: Duration = Duration::from_secs(2);

/// Blocks the ending signals in this (main) thread and every thread started after it, so only
/// the thread [`watch`] starts receives them. Call before starting any other thread.
pub fn block() -> std::io::Result<()> {
    SignalSet::of(&ENDING_SIGNALS).block()
}

/// Starts the thread that waits for an ending signal, then stops group `group` (the
/// command's: SIGTERM, SIGKILL once `grace` passed without the command reaped) and exits the
/// probe. `command_reaped` is set by the reaper once the command itself is gone.
pub fn watch(group: i32, grace: Duration, command_reaped: Arc<AtomicBool>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("signals".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            let Ok(signal) = SignalSet::of(&ENDING_SIGNALS).wait() else {
                return;
            };
            eprintln!("isobench-probe: signal {signal}: stopping the command");
            let reaped = || command_reaped.load(Ordering::Acquire);
            sys::signal_group(group, SIGTERM);
            if !wait_for(Instant::now() + grace, &reaped) {
                sys::signal_group(group, SIGKILL);
                wait_for(Instant::now() + KILL_LIMIT, &reaped);
            }
            // Whatever the command left in its group gets no more time than it had.
            sys::signal_group(group, SIGKILL);
            super::stop::kill_the_rest();
            std::process::exit(128 + signal);
        })
        .map(drop)
}

/// Polls `done` until it holds (true) or `deadline` passes (false).
fn wait_for(deadline: Instant, done: &dyn Fn() -> bool) -> bool {
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(GROUP_POLL);
    }
    true
}
