//! Teardown: the command's process group gets SIGTERM, then SIGKILL once `stop_grace_ms` has
//! passed; every child is reaped (as PID 1 of a container or a guest, every process left in
//! the isolate is killed first).
use std::time::{Duration, Instant};

use super::sys::{self, SIGKILL, SIGTERM};
use super::Supervised;

/// How long reaping may take after SIGKILL (a process in uninterruptible sleep) before the
/// probe gives up waiting and exits anyway.
const REAP_LIMIT: Duration = Duration::from_secs(5);

/// Stops the command and waits until every child of the probe is reaped.
pub fn stop(supervised: &mut Supervised, grace: Duration) {
    let group = supervised.pid;
    if supervised.ended.is_none() {
        sys::signal_group(group, SIGTERM);
        supervised.wait_until(Instant::now() + grace, |s| s.ended.is_some());
    }
    // The command itself if it ignored SIGTERM, and whatever of its group it left behind.
    sys::signal_group(group, SIGKILL);
    if std::process::id() == 1 {
        // PID 1 of a pid namespace or a guest: every other process in it is the workload's,
        // including those that left the command's process group (daemons call setsid).
        sys::kill_all_but_self();
    }
    supervised.wait_until(Instant::now() + REAP_LIMIT, |s| s.all_reaped);
}
