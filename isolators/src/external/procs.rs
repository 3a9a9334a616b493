//! Host processes of an engine instance: descendants found by walking /proc, identity by start time.
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::Error;

/// A process identified by pid and start time, so a reused pid is not mistaken for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessId {
    pub pid: i32,
    pub start_ticks: u64,
}

impl ProcessId {
    pub fn of(pid: i32) -> Option<ProcessId> {
        let (_, start_ticks) = read_stat(pid)?;
        Some(ProcessId { pid, start_ticks })
    }

    /// True while the process exists and is not a zombie.
    pub fn is_alive(&self) -> bool {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)) else {
            return false;
        };
        match parse_stat(&stat) {
            Some((_, start)) if start == self.start_ticks => !stat_state_is_zombie(&stat),
            _ => false,
        }
    }
}

/// (ppid, starttime) from /proc/PID/stat.
fn read_stat(pid: i32) -> Option<(i32, u64)> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

fn parse_stat(stat: &str) -> Option<(i32, u64)> {
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // after ')' : state(0) ppid(1) … starttime is field 22 overall, index 19 here.
    Some((fields.get(1)?.parse().ok()?, fields.get(19)?.parse().ok()?))
}

fn stat_state_is_zombie(stat: &str) -> bool {
    stat.rfind(')')
        .and_then(|at| stat[at + 2..].chars().next())
        .is_some_and(|state| state == 'Z' || state == 'X')
}

/// The parent of `pid`, if it exists.
pub fn parent_of(pid: i32) -> Option<i32> {
    read_stat(pid).map(|(ppid, _)| ppid)
}

/// `root` and every process below it, parents first.
pub fn descendants(root: i32) -> Vec<i32> {
    let mut children: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            if let Some((ppid, _)) = read_stat(pid) {
                children.entry(ppid).or_default().push(pid);
            }
        }
    }
    let mut found = Vec::new();
    if read_stat(root).is_none() {
        return found;
    }
    let mut queue = VecDeque::from([root]);
    while let Some(pid) = queue.pop_front() {
        found.push(pid);
        if let Some(kids) = children.get(&pid) {
            queue.extend(kids.iter().copied());
        }
    }
    found
}

/// Processes with `argument` as one whole argument of their command line (e.g. a container
/// name passed to a monitor such as conmon), so orphans of a killed engine can be found.
pub fn with_argument(argument: &str) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
                cmdline
                    .split(|&b| b == 0)
                    .any(|arg| arg == argument.as_bytes())
            })
        })
        .collect()
}

/// Identities of `pids` that still exist.
pub fn identify(pids: &[i32]) -> Vec<ProcessId> {
    pids.iter().filter_map(|&pid| ProcessId::of(pid)).collect()
}

/// Stops `root` and then, round by round, every process below it (SIGSTOP), until a scan finds
/// nothing new: a stopped process cannot fork, so the returned list (root included) is the
/// whole tree, ready for [`kill_all`]. Without this, a child forked just after a scan, or a
/// child re-parented when its parent dies first, could outlive the kill.
pub fn stop_tree(root: i32) -> Vec<ProcessId> {
    let mut stopped: Vec<ProcessId> = Vec::new();
    // A tree deeper than this is not an engine's; the bound only guards against a fork bomb.
    for _ in 0..64 {
        let new: Vec<ProcessId> = identify(&descendants(root))
            .into_iter()
            .filter(|p| !stopped.contains(p))
            .collect();
        if new.is_empty() {
            break;
        }
        for process in &new {
            if process.is_alive() {
                let _ = kill(Pid::from_raw(process.pid), Signal::SIGSTOP);
            }
        }
        stopped.extend(new);
    }
    stopped
}

/// SIGKILLs every listed process that is still the same process.
pub fn kill_all(processes: &[ProcessId]) {
    for process in processes {
        if process.is_alive() {
            let _ = kill(Pid::from_raw(process.pid), Signal::SIGKILL);
        }
    }
}

/// Waits until none of `processes` is alive.
pub fn wait_all_gone(processes: &[ProcessId], timeout: Duration, what: &str) -> Result<(), Error> {
    let deadline = Instant::now() + timeout;
    loop {
        let left: Vec<i32> = processes
            .iter()
            .filter(|p| p.is_alive())
            .map(|p| p.pid)
            .collect();
        if left.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::timeout(
                format!("{what} (still running: pids {left:?})"),
                timeout,
            ));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_names() {
        let stat = "42 (a) b (c)) S 7 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 9876 0 0";
        assert_eq!(parse_stat(stat), Some((7, 9876)));
        assert!(!stat_state_is_zombie(stat));
        assert!(stat_state_is_zombie("5 (x) Z 1 5"));
    }

    #[test]
    fn finds_a_child_below_this_process() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let me = std::process::id() as i32;
        assert!(descendants(me).contains(&(child.id() as i32)));
        let id = ProcessId::of(child.id() as i32).unwrap();
        assert!(id.is_alive());
        // The child's command line is read from /proc, which can lag its exec by a moment.
        let deadline = Instant::now() + Duration::from_secs(2);
        while !with_argument("5").contains(&(child.id() as i32)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(with_argument("5").contains(&(child.id() as i32)));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!id.is_alive());
    }

    #[test]
    fn stop_tree_catches_grandchildren() {
        // sh forks a sleeping grandchild; stop_tree must list both, and kill_all end both.
        let mut shell = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & wait"])
            .spawn()
            .unwrap();
        let pid = shell.id() as i32;
        let deadline = Instant::now() + Duration::from_secs(5);
        while descendants(pid).len() < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let tree = stop_tree(pid);
        assert_eq!(tree.len(), 2, "{tree:?}");
        kill_all(&tree);
        shell.wait().unwrap();
        wait_all_gone(&tree, Duration::from_secs(5), "the tree").unwrap();
    }
}
