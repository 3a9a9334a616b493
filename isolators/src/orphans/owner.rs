//! Who owns a resource isobench leaves on the host: the owner tag (pid, start time, pid
//! namespace) written into the names of instance cgroups, engine container ids and scratch
//! dirs, its parsing, and whether that owner still lives.
//!
//! A pid alone is not enough: pids are reused, so a new process with the dead owner's pid would
//! keep its leftovers forever. The start time (field 22 of /proc/<pid>/stat, clock ticks since
//! boot) tells the owner from a later process with the same pid, and the pid namespace's inode
//! tells a pid we can judge from one that means another process in another namespace.
use std::os::unix::fs::MetadataExt;
use std::sync::OnceLock;

use procfs::FromRead;

/// The process that created a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Owner {
    pub pid: i32,
    /// Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since boot.
    pub start_ticks: u64,
    /// Inode of the owner's pid namespace (/proc/<pid>/ns/pid).
    pub pid_ns_inode: u64,
}

/// What a resource's name says about its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// `<pid>-<start ticks>-<pid ns inode>-…`: the names isobench gives now.
    Tagged(Owner),
    /// `<pid>-<n>`: an instance cgroup named by an isobench from before owner tags; only the pid
    /// is known, so it counts as gone only when no process has that pid.
    PidOnly(i32),
}

/// Whether the owner of a resource still runs, as far as this process can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    Alive,
    /// No such process, a later process with the same pid, or a zombie.
    Gone,
    /// Named in another pid namespace: not ours to judge, so never touched.
    Foreign,
}

impl Owner {
    /// This process, computed once.
    pub fn current() -> Owner {
        static CURRENT: OnceLock<Owner> = OnceLock::new();
        *CURRENT.get_or_init(|| {
            let pid = std::process::id() as i32;
            Owner {
                pid,
                start_ticks: read_stat(pid).map(|(_, start)| start).unwrap_or(0),
                pid_ns_inode: own_pid_ns_inode(),
            }
        })
    }

    /// The owner `pid` is now (start time from /proc), in our pid namespace; None when there is
    /// no such process.
    pub fn of_pid(pid: i32) -> Option<Owner> {
        let (_, start_ticks) = read_stat(pid)?;
        Some(Owner {
            pid,
            start_ticks,
            pid_ns_inode: own_pid_ns_inode(),
        })
    }

    /// `<pid>-<start ticks>-<pid ns inode>`: the prefix of every name this owner gives.
    pub fn tag(&self) -> String {
        format!("{}-{}-{}", self.pid, self.start_ticks, self.pid_ns_inode)
    }

    /// Whether this owner still runs.
    pub fn liveness(&self) -> Liveness {
        if self.pid_ns_inode != own_pid_ns_inode() {
            return Liveness::Foreign;
        }
        if unreadable(self.pid) {
            return Liveness::Alive;
        }
        liveness_from(self, read_stat(self.pid))
    }
}

impl Claim {
    /// Reads the owner from a name: `[isobench-]<pid>-<start>-<ns>-<rest>` or, only when
    /// `pid_only` is allowed, the old `[isobench-]<pid>-<n>`. None for any other name.
    pub fn parse(name: &str, pid_only: bool) -> Option<Claim> {
        let body = name.strip_prefix("isobench-").unwrap_or(name);
        let fields: Vec<&str> = body.splitn(4, '-').collect();
        let number = |text: &str| -> Option<u64> {
            let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
            digits.then(|| text.parse().ok()).flatten()
        };
        match fields.as_slice() {
            [pid, start, ns, rest] if !rest.is_empty() => {
                let pid = i32::try_from(number(pid)?).ok().filter(|p| *p > 0)?;
                Some(Claim::Tagged(Owner {
                    pid,
                    start_ticks: number(start)?,
                    pid_ns_inode: number(ns)?,
                }))
            }
            [pid, n] if pid_only && number(n).is_some() => {
                let pid = i32::try_from(number(pid)?).ok().filter(|p| *p > 0)?;
                Some(Claim::PidOnly(pid))
            }
            _ => None,
        }
    }

    /// Whether the claimed owner still runs (a pid-only claim: whether any process has the pid).
    pub fn liveness(&self) -> Liveness {
        match self {
            Claim::Tagged(owner) => owner.liveness(),
            Claim::PidOnly(pid) => match read_stat(*pid) {
                _ if unreadable(*pid) => Liveness::Alive,
                Some((state, _)) if !is_dead_state(state) => Liveness::Alive,
                _ => Liveness::Gone,
            },
        }
    }

    /// The owner's pid, for messages.
    pub fn pid(&self) -> i32 {
        match self {
            Claim::Tagged(owner) => owner.pid,
            Claim::PidOnly(pid) => *pid,
        }
    }
}

/// The decision for `owner` given what /proc says of its pid now: `(state, start ticks)`, or
/// None when no process has that pid.
pub fn liveness_from(owner: &Owner, now: Option<(char, u64)>) -> Liveness {
    match now {
        Some((state, start)) if start == owner.start_ticks && !is_dead_state(state) => {
            Liveness::Alive
        }
        _ => Liveness::Gone,
    }
}

/// A zombie (or dead) process holds no cgroup, file or mount any more.
fn is_dead_state(state: char) -> bool {
    matches!(state, 'Z' | 'X' | 'x')
}

/// State and start time of `pid` from /proc/<pid>/stat (parsed by procfs, which handles
/// command names with spaces and parentheses).
fn read_stat(pid: i32) -> Option<(char, u64)> {
    let file = std::fs::File::open(format!("/proc/{pid}/stat")).ok()?;
    let stat = procfs::process::Stat::from_read(file).ok()?;
    Some((stat.state, stat.starttime))
}

/// True when a process `pid` exists but /proc will not show us its stat (hidepid, a process
/// we may not look at): it may be the owner, so it counts as alive.
fn unreadable(pid: i32) -> bool {
    match std::fs::File::open(format!("/proc/{pid}/stat")) {
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::NotFound && e.raw_os_error() != Some(libc::ESRCH),
    }
}

/// The inode of our pid namespace (0 where /proc does not show it: then every tag matches).
fn own_pid_ns_inode() -> u64 {
    static INODE: OnceLock<u64> = OnceLock::new();
    *INODE.get_or_init(|| {
        std::fs::metadata("/proc/self/ns/pid")
            .map(|m| m.ino())
            .unwrap_or(0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWNER: Owner = Owner {
        pid: 4242,
        start_ticks: 987_654,
        pid_ns_inode: 4_026_531_836,
    };

    #[test]
    fn tags_round_trip_through_every_name_shape() {
        let tag = OWNER.tag();
        assert_eq!(tag, "4242-987654-4026531836");
        for name in [
            format!("{tag}-17"),                   // instance cgroup
            format!("isobench-{tag}-3"),           // engine container id, lxc name
            format!("isobench-{tag}-crun-Ab12Cd"), // scratch dir
            format!("isobench-{tag}-qemu-microvm-linux-x"),
        ] {
            assert_eq!(
                Claim::parse(&name, false),
                Some(Claim::Tagged(OWNER)),
                "{name}"
            );
        }
    }

    #[test]
    fn pid_only_names_only_where_allowed() {
        assert_eq!(Claim::parse("4242-17", true), Some(Claim::PidOnly(4242)));
        assert_eq!(
            Claim::parse("isobench-4242-17", true),
            Some(Claim::PidOnly(4242))
        );
        assert_eq!(Claim::parse("4242-17", false), None);
    }

    #[test]
    fn foreign_names_are_not_claims() {
        for name in [
            "isobench-peers",
            "isobench-process-9E5bmo",
            "isobench",
            "isobench-1-2-3",
            "isobench-1-2-3-",
            "isobench-0-2-3-x",
            "isobench-x-2-3-4",
            "isobench-+1-2-3-4",
            "isobench-99999999999-2-3-4",
            "user.slice",
            "payload",
            "4242-",
            "-4242-1",
        ] {
            assert_eq!(Claim::parse(name, true), None, "{name}");
        }
    }

    #[test]
    fn a_reused_pid_or_a_zombie_is_not_the_owner() {
        let same = Some(('S', OWNER.start_ticks));
        assert_eq!(liveness_from(&OWNER, same), Liveness::Alive);
        assert_eq!(
            liveness_from(&OWNER, Some(('R', OWNER.start_ticks + 1))),
            Liveness::Gone
        );
        assert_eq!(
            liveness_from(&OWNER, Some(('Z', OWNER.start_ticks))),
            Liveness::Gone
        );
        assert_eq!(liveness_from(&OWNER, None), Liveness::Gone);
    }

    #[test]
    fn this_process_is_alive_and_other_namespaces_are_foreign() {
        let me = Owner::current();
        assert_eq!(me.pid, std::process::id() as i32);
        assert!(me.start_ticks > 0, "start time read from /proc/self/stat");
        assert_eq!(me.liveness(), Liveness::Alive);
        assert_eq!(Owner::of_pid(me.pid), Some(me));
        let later = Owner {
            start_ticks: me.start_ticks + 1,
            ..me
        };
        assert_eq!(later.liveness(), Liveness::Gone);
        let elsewhere = Owner {
            pid_ns_inode: me.pid_ns_inode + 1,
            ..me
        };
        assert_eq!(elsewhere.liveness(), Liveness::Foreign);
        assert_eq!(Claim::PidOnly(me.pid).liveness(), Liveness::Alive);
    }

    #[test]
    fn an_exited_child_is_gone() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let owner = Owner::of_pid(child.id() as i32).unwrap();
        assert_eq!(owner.liveness(), Liveness::Alive);
        child.kill().unwrap();
        // Killed but not yet reaped: a zombie, which holds nothing.
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert_eq!(owner.liveness(), Liveness::Gone);
        child.wait().unwrap();
        assert_eq!(owner.liveness(), Liveness::Gone);
    }
}
