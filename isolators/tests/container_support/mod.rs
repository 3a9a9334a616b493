//! Shared by the container tests: capability checks, serialisation, leak snapshots, unshare timing.
#![allow(dead_code)]
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use isolators::cgroup::CgroupPlan;
use isolators::container::{ContainerIsolator, ContainerLauncher};
use isolators::fdchannel::FdChannel;
use isolators::testing::{check_root, run_if};
use isolators::{monotonic_ns, Workload};

pub const TIMEOUT: Duration = Duration::from_secs(10);

pub fn may_launch(test: &str) -> bool {
    run_if(test, "root", check_root()) && run_if(test, "cgroup", check_cgroup())
}

/// A container launcher prepared for `mode` in a new scratch dir (what `Isolator::prepare`
/// makes, without the box, so tests can reach its cgroup plan).
pub fn prepared(mode: &str) -> (tempfile::TempDir, ContainerLauncher) {
    let scratch = tempfile::tempdir().unwrap();
    let launcher = prepare_in(&ContainerIsolator::new(), mode, scratch.path());
    (scratch, launcher)
}

/// Prepares `container` for `mode` in `scratch`.
pub fn prepare_in(container: &ContainerIsolator, mode: &str, scratch: &Path) -> ContainerLauncher {
    let rootfs = isolators::probe::write_rootfs(scratch).unwrap();
    container
        .prepare_rootfs(&rootfs, &mode.parse::<Workload>().unwrap())
        .unwrap()
}

/// `Ok` when instances get a cgroup of their own on this host.
pub fn check_cgroup() -> Result<(), String> {
    match ContainerIsolator::new().cgroup_plan() {
        CgroupPlan::Unavailable { reason } => Err(reason.clone()),
        _ => Ok(()),
    }
}

/// Launching tests run one at a time, so one test's children are not another's leak.
pub fn lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Pids whose parent is this process, zombies included.
pub fn children_of_us() -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        let after_comm = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        if after_comm
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<i32>().ok())
            == Some(me)
        {
            children.push(pid);
        }
    }
    children
}

/// What an instance could leave behind on the host.
#[derive(Debug, PartialEq)]
pub struct Leaks {
    children: Vec<i32>,
    /// Instance cgroup directories of this process under the `isobench` parents.
    cgroups: Vec<PathBuf>,
    mountinfo: String,
    /// Every path under the scratch dir (the rootfs must come back untouched).
    scratch: Vec<PathBuf>,
}

impl Leaks {
    pub fn snapshot(container: &ContainerLauncher, scratch: &Path) -> Leaks {
        let ours = format!("{}-", std::process::id());
        let mut cgroups: Vec<PathBuf> = container
            .cgroup_plan()
            .parents()
            .iter()
            .filter_map(|parent| std::fs::read_dir(parent).ok())
            .flat_map(|entries| entries.flatten().map(|e| e.path()))
            .filter(|p| p.is_dir() && p.file_name().unwrap().to_string_lossy().starts_with(&ours))
            .collect();
        cgroups.sort();
        Leaks {
            children: children_of_us(),
            cgroups,
            mountinfo: std::fs::read_to_string("/proc/self/mountinfo").unwrap(),
            scratch: walk(scratch),
        }
    }

    /// Asserts nothing was added. Mounts made elsewhere on this shared host by others are
    /// tolerated; any mount line naming the scratch dir is ours and fails the test.
    pub fn assert_same_as(&self, before: &Leaks) {
        assert_eq!(self.children, before.children, "processes left behind");
        assert_eq!(
            self.cgroups, before.cgroups,
            "cgroup directories left behind"
        );
        assert_eq!(
            self.scratch, before.scratch,
            "files changed under the scratch dir"
        );
        if self.mountinfo != before.mountinfo {
            let scratch = before
                .scratch
                .first()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let new: Vec<&str> = self
                .mountinfo
                .lines()
                .filter(|l| !before.mountinfo.contains(l))
                .collect();
            assert!(
                new.iter().all(|l| !l.contains(&scratch)),
                "mounts leaked into the harness: {new:?}"
            );
            eprintln!("note: mounts by others appeared meanwhile: {new:?}");
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut paths = vec![dir.to_path_buf()];
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() && !path.is_symlink() {
                paths.extend(walk(&path));
            } else {
                paths.push(path);
            }
        }
    }
    paths.sort();
    paths
}

/// Startup of `unshare --fork --pid --mount --uts --ipc --net --root=ROOTFS /isobench-probe`,
/// timed as the isolators time themselves: just before spawn → the ready byte.
pub fn unshare_startup_ns(rootfs: &Path) -> u64 {
    let mut channel = FdChannel::new().unwrap();
    let mut command = Command::new("unshare");
    command
        .args(["--fork", "--pid", "--mount", "--uts", "--ipc", "--net"])
        .arg(format!("--root={}", rootfs.display()))
        .args([
            "/isobench-probe",
            "--mode",
            "noop",
            "--channel",
            &channel.probe_channel_arg(),
        ])
        .env_clear()
        .stdin(Stdio::null());
    let launched_ns = monotonic_ns();
    let mut child = command.spawn().unwrap();
    channel.close_child_ends();
    let ready = channel
        .wait_ready(launched_ns, Duration::from_secs(10))
        .unwrap();
    channel.release().unwrap();
    child.wait().unwrap();
    ready.ready_ns - launched_ns
}

pub fn median(values: &mut [u64]) -> u64 {
    values.sort_unstable();
    values[values.len() / 2]
}

/// The link `/proc/<pid>/ns/<ns>` points at ("net:[4026532…]"): equal links, same namespace.
pub fn ns_link(pid: &str, ns: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{ns}"))
        .unwrap()
        .display()
        .to_string()
}
