//! Teardown: the command's process group gets SIGTERM, then SIGKILL once `stop_grace_ms` has
//! passed; then whatever the command left outside its group is killed too (as PID 1 of a
//! container or a guest, every process left in the isolate; elsewhere the orphans that
//! re-parented to the probe, a subreaper), and every child is reaped before the probe exits.
use std::time::{Duration, Instant};

use super::sys::{self, SIGKILL, SIGTERM};
use super::Supervised;

/// How long reaping may take after SIGKILL (a process in uninterruptible sleep) before the
/// probe gives up waiting and exits anyway.
const REAP_LIMIT: Duration = Duration::from_secs(5);
/// How long the output threads may take to forward the last lines once nothing is left that
/// could write them.
const OUTPUT_DRAIN_LIMIT: Duration = Duration::from_millis(300);
/// How often the rest is killed again while waiting (orphans re-parent to the probe as their
/// parents die, so a late one is caught by the next round).
const KILL_ROUND: Duration = Duration::from_millis(20);

/// Stops the command and waits until every child of the probe is reaped.
pub fn stop(supervised: &mut Supervised, grace: Duration) {
    let group = supervised.pid;
    if supervised.ended.is_none() {
        sys::signal_group(group, SIGTERM);
        supervised.wait_until(Instant::now() + grace, |s| s.ended.is_some());
    }
    // The command itself if it ignored SIGTERM, and whatever of its group it left behind.
    sys::signal_group(group, SIGKILL);
    let deadline = Instant::now() + REAP_LIMIT;
    while !supervised.all_reaped && Instant::now() < deadline {
        kill_the_rest();
        supervised.wait_until(Instant::now() + KILL_ROUND, |s| s.all_reaped);
    }
    // The last lines the command wrote before it ended are forwarded before the probe exits.
    supervised.wait_until(Instant::now() + OUTPUT_DRAIN_LIMIT, |s| s.open_outputs == 0);
}

/// SIGKILL to every process the workload left that is not in the command's group (daemons call
/// setsid): as PID 1 of a pid namespace or a guest, every other process in it; elsewhere the
/// probe's children, which orphans of the command's tree are, the probe being a subreaper.
pub fn kill_the_rest() {
    if std::process::id() == 1 {
        sys::kill_all_but_self();
    } else {
        sys::children().into_iter().for_each(sys::kill_process);
    }
}
