//! Leak checks shared by the tests that stop isobench midway or load it hard: this test
//! process becomes a child subreaper, so anything isobench leaks (a probe, a VMM) re-parents
//! to it and is found; mounts are compared with a snapshot; instance cgroups and scratch
//! directories must be gone. Tests using it take turns, for the same reason.
#![allow(dead_code)] // each test binary uses its own part

use std::time::Duration;

use super::assert_no_scratch_left;

static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The host's mounts, less those container daemons (dockerd, podman) make for their own
/// containers: other programs on the host may be running those while this test runs.
pub fn our_mounts() -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|line| {
            ![
                "/var/lib/docker/",
                "/run/docker/",
                "/var/lib/containers/",
                "/run/containers/",
            ]
            .iter()
            .any(|d| line.contains(d))
        })
        .map(String::from)
        .collect()
}

/// Processes whose parent is this test process.
pub fn our_children() -> Vec<String> {
    let me = std::process::id() as i32;
    procfs::process::all_processes()
        .unwrap()
        .filter_map(|p| p.ok()?.stat().ok())
        .filter(|s| s.ppid == me)
        .map(|s| format!("{} {} ({})", s.pid, s.comm, s.state))
        .collect()
}

pub fn instance_cgroups() -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![std::path::PathBuf::from("/sys/fs/cgroup")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                if path.parent().is_some_and(|p| p.ends_with("isobench")) {
                    found.push(path.display().to_string());
                }
                stack.push(path);
            }
        }
    }
    found
}

/// Takes this binary's turn, becomes a child subreaper (so leaked processes re-parent to us)
/// and snapshots the mounts to compare against afterwards.
pub fn watch_for_leaks() -> (std::sync::MutexGuard<'static, ()>, Vec<String>) {
    let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) only changes how orphans are re-parented.
    let subreaper = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    assert_eq!(subreaper, 0);
    (turn, our_mounts())
}

/// No child process, instance cgroup, mount or scratch directory remains. Only the instance
/// cgroups of the isobench process `isobench_pid` count (they are named `<pid>-…`): other
/// programs on the host may be running isobench meanwhile.
pub fn assert_nothing_left_of(
    mountinfo_before: &[String],
    tmp: &std::path::Path,
    isobench_pid: u32,
) {
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        our_children().is_empty(),
        "left behind: {:?}",
        our_children()
    );
    let prefix = format!("{isobench_pid}-");
    let ours: Vec<String> = instance_cgroups()
        .into_iter()
        .filter(|path| {
            std::path::Path::new(path)
                .file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with(&prefix))
        })
        .collect();
    assert!(ours.is_empty(), "cgroups left: {ours:?}");
    assert_eq!(our_mounts(), mountinfo_before, "mounts changed");
    assert_no_scratch_left(tmp);
}
