//! Engine processes a gone isobench left running — a `crun run`, `runc create`, `conmon` or
//! `lxc-start` whose arguments name an owner-tagged id or scratch path — found in /proc and
//! killed before the cgroups are reaped: one still starting would otherwise create its
//! container's cgroup after the reaper looked, and that cgroup would stay.
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::owner::{Claim, Liveness};

/// How long the killed processes get to disappear before the cgroups are reaped anyway.
const EXIT_TIMEOUT: Duration = Duration::from_secs(2);

/// Kills every process whose arguments carry the tag of a gone isobench, waits (bounded) until
/// they are gone, and returns their pids with the owners' pids.
pub fn kill_orphaned() -> (BTreeSet<i32>, BTreeSet<i32>) {
    let me = std::process::id() as i32;
    let mut killed = BTreeSet::new();
    let mut owners = BTreeSet::new();
    for (pid, owner) in tagged_processes().into_iter().filter(|(pid, _)| *pid != me) {
        if kill(Pid::from_raw(pid), Signal::SIGKILL).is_ok() {
            killed.insert(pid);
            owners.insert(owner);
        }
    }
    let deadline = Instant::now() + EXIT_TIMEOUT;
    while killed.iter().any(|&pid| running(pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    (killed, owners)
}

/// (pid, owner pid) of each process whose arguments name a gone owner's tag.
fn tagged_processes() -> Vec<(i32, i32)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            gone_owner_in(&cmdline).map(|owner| (pid, owner))
        })
        .collect()
}

/// The pid of a gone isobench whose tag a NUL-separated argument list names, if any: an
/// argument, or one component of a path argument, that reads as an owner-tagged name.
pub fn gone_owner_in(cmdline: &[u8]) -> Option<i32> {
    cmdline
        .split(|&b| b == 0)
        .filter_map(|arg| std::str::from_utf8(arg).ok())
        .flat_map(|arg| arg.split(['/', '=']))
        .filter(|word| word.starts_with("isobench-"))
        .filter_map(|word| Claim::parse(word, false))
        .find(|claim| matches!(claim, Claim::Tagged(_)) && claim.liveness() == Liveness::Gone)
        .map(|claim| claim.pid())
}

/// Whether `pid` still runs (a zombie or a vanished pid does not).
fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat.rsplit_once(") ")?.1.chars().next()?;
            Some(!matches!(state, 'Z' | 'X' | 'x'))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gone_owners_tag_in_an_argument_or_a_path_is_found() {
        let me = super::super::owner::Owner::current();
        // Pid 2147483632 does not run (above every pid_max), so its tag's owner is gone.
        let gone = format!("isobench-2147483632-1-{}-300", me.pid_ns_inode);
        let cmdline = format!("crun\0--root\0/run/x\0run\0--bundle\0/tmp/{gone}/bundle\0");
        assert_eq!(gone_owner_in(cmdline.as_bytes()), Some(2147483632));
        let as_id = format!("crun\0run\0{gone}\0");
        assert_eq!(gone_owner_in(as_id.as_bytes()), Some(2147483632));
        // This process is alive: its own tag is never taken for a gone one.
        let mine = format!("isobench-{}-0", me.tag());
        let alive = format!("crun\0run\0{mine}\0");
        assert_eq!(gone_owner_in(alive.as_bytes()), None);
        assert_eq!(gone_owner_in(b"crun\0run\0isobench-oci\0"), None);
        assert_eq!(gone_owner_in(b"sleep\0forever\0"), None);
    }
}
