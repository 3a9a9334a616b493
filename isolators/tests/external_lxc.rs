//! LXC adapter: a full lifecycle with the leak check (no container left in the private
//! lxcpath, no cgroup, no monitor process, no lock file), what isolates the probe, launches
//! that never get ready, LXC refusing to start, and a wrong `--engine lxc=PATH`.
mod external_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use isolators::external::lxc::{
    cgroup_parent_dirs, config, leftover_containers, lxcpath_in, LxcIsolator, CGROUP_PARENT,
};
use isolators::registry::IsolatorOptions;
use isolators::testing::{check_on_path, check_root, run_if};
use isolators::{Availability, Host, Isolator, Workload};

/// Serializes the lifecycle tests, so the leak checks see only finished instances.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// lxc-start (LXC's monitor) and the probe, the container's init.
const LXC_PROCESSES: u32 = 2;

fn gate(test: &str) -> bool {
    run_if(test, "root", check_root()) && run_if(test, "lxc", check_on_path("lxc-start"))
}

fn with_engine(path: &str) -> IsolatorOptions {
    let mut options = IsolatorOptions::default();
    options
        .engine_paths
        .insert("lxc".to_string(), PathBuf::from(path));
    options
}

/// cgroup directories of this test process's instances, in any hierarchy.
fn leftover_cgroups() -> Vec<PathBuf> {
    let prefix = format!("isobench-{}-", std::process::id());
    let mut found = Vec::new();
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let parent = hierarchy.path().join(CGROUP_PARENT);
        for entry in std::fs::read_dir(&parent).into_iter().flatten().flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                found.push(entry.path());
            }
        }
    }
    found
}

/// Processes (LXC monitors) started for the private lxcpath in `scratch`.
fn monitors_of(scratch: &Path) -> Vec<i32> {
    let lxcpath = lxcpath_in(scratch);
    let lxcpath = lxcpath.canonicalize().unwrap_or(lxcpath);
    isolators::external::procs::with_argument(&lxcpath.to_string_lossy())
}

/// Nothing of any instance is left: containers, cgroups, monitors, lock files.
fn assert_no_leak(scratch: &Path, after: &str) {
    let lxcpath = lxcpath_in(scratch);
    assert_eq!(
        leftover_containers(&lxcpath),
        Vec::<String>::new(),
        "containers in the lxcpath {after}"
    );
    assert_eq!(leftover_cgroups(), Vec::<PathBuf>::new(), "cgroups {after}");
    assert_eq!(monitors_of(scratch), Vec::<i32>::new(), "monitors {after}");
    let locks = config::lock_dir(&lxcpath.canonicalize().unwrap_or(lxcpath));
    assert!(!locks.exists(), "{} left {after}", locks.display());
    assert_eq!(
        cgroup_parent_dirs(),
        Vec::<PathBuf>::new(),
        "parent cgroup {after}"
    );
}

#[test]
fn lxc_lifecycle() {
    if !gate("lxc_lifecycle") {
        return;
    }
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = tempfile::tempdir().unwrap();
    let isolator = LxcIsolator::new(&IsolatorOptions::default());
    let (startup_ns, memory) =
        external_support::lifecycle(&isolator, scratch.path(), LXC_PROCESSES);
    eprintln!("lxc startup {} µs, {memory:?}", startup_ns / 1000);
    assert!(
        memory.cgroup_bytes.is_some(),
        "no cgroup memory: {memory:?}"
    );
    assert_no_leak(scratch.path(), "after a released lifecycle");
    external_support::never_ready_cleans_up(&isolator, scratch.path());
    assert_no_leak(scratch.path(), "after a drop 1 ms in");
    // Kill LXC at several points of its set-up.
    for wait_ms in [2, 5, 10, 20, 40] {
        external_support::drop_after(&isolator, scratch.path(), Duration::from_millis(wait_ms));
        assert_no_leak(scratch.path(), &format!("after a drop {wait_ms} ms in"));
    }
    external_support::probe_never_ready_cleans_up(&isolator, scratch.path());
    assert_no_leak(scratch.path(), "after a probe that never got ready");
    external_support::io_lifecycle(&isolator, scratch.path());
    assert_no_leak(scratch.path(), "after io:64");
}

/// The probe runs as the container's init in its own namespaces, on a read-only root, with
/// only a loopback interface, in the instance's cgroup; the monitor is LXC's lxc-start.
#[test]
fn lxc_isolates_the_probe() {
    if !gate("lxc_isolates_the_probe") {
        return;
    }
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = tempfile::tempdir().unwrap();
    let isolator = LxcIsolator::new(&IsolatorOptions::default());
    let mut launcher = isolator.prepare(&Workload::noop(), scratch.path()).unwrap();
    let mut instance = launcher.launch().unwrap();
    instance.wait_ready(Duration::from_secs(30)).unwrap();
    let resources = instance.resources();
    let names: Vec<String> = resources
        .pids
        .iter()
        .map(|&pid| external_support::command_name(pid))
        .collect();
    let probe = *resources
        .pids
        .iter()
        .find(|&&pid| external_support::command_name(pid).ends_with("isobench-probe"))
        .unwrap_or_else(|| panic!("no probe among {names:?}"));
    assert!(names.iter().any(|n| n.ends_with(":lxc-start")), "{names:?}");
    for ns in ["mnt", "pid", "uts", "ipc", "net", "cgroup"] {
        let ours = std::fs::read_link(format!("/proc/self/ns/{ns}")).unwrap();
        let its = std::fs::read_link(format!("/proc/{probe}/ns/{ns}")).unwrap();
        assert_ne!(ours, its, "the probe shares our {ns} namespace");
    }
    let mountinfo = std::fs::read_to_string(format!("/proc/{probe}/mountinfo")).unwrap();
    let root = mountinfo
        .lines()
        .find(|l| l.split(' ').nth(4) == Some("/"))
        .expect("a / mount");
    let options = root.split(' ').nth(5).unwrap();
    assert!(options.split(',').any(|o| o == "ro"), "{root}");
    let interfaces = std::fs::read_to_string(format!("/proc/{probe}/net/dev")).unwrap();
    let names: Vec<&str> = interfaces
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next().map(str::trim))
        .collect();
    assert_eq!(names, ["lo"], "lxc.net.0.type = empty leaves only loopback");
    let cgroup = resources.cgroup.as_ref().expect("the instance's cgroup");
    assert!(cgroup.pids().contains(&probe), "{cgroup:?}");
    instance.release().unwrap();
    instance.wait_gone(Duration::from_secs(30)).unwrap();
    drop(instance);
    drop(launcher);
    assert_no_leak(scratch.path(), "after the isolation check");
}

/// A container LXC cannot start (its init is missing from the rootfs) fails in one line that
/// says LXC refused, and leaves nothing behind.
#[test]
fn lxc_refusing_to_start_is_one_line() {
    if !gate("lxc_refusing_to_start_is_one_line") {
        return;
    }
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = tempfile::tempdir().unwrap();
    let isolator = LxcIsolator::new(&IsolatorOptions::default());
    let mut launcher = isolator.prepare(&Workload::noop(), scratch.path()).unwrap();
    std::fs::remove_dir_all(scratch.path().join("rootfs")).unwrap();
    let mut instance = launcher.launch().unwrap();
    let error = instance
        .wait_ready(Duration::from_secs(30))
        .unwrap_err()
        .to_string();
    eprintln!("{error}");
    assert!(
        error.starts_with("LXC refused to start container isobench-"),
        "{error}"
    );
    assert!(!error.contains('\n'), "more than one line: {error:?}");
    assert!(error.contains("rootfs"), "LXC's reason is kept: {error}");
    drop(instance);
    drop(launcher);
    assert_no_leak(scratch.path(), "after LXC refused");
}

#[test]
fn lxc_engine_that_is_not_lxc_is_one_line() {
    let host = Host::detect();
    let reason = |path: &str| match LxcIsolator::new(&with_engine(path)).availability(&host) {
        Availability::Unavailable { reason } => reason,
        Availability::Available => panic!("{path} accepted as lxc-start"),
    };
    for (path, expected) in [
        ("/bin/true", "/bin/true is not LXC's lxc-start"),
        ("/bin/ls", "/bin/ls is not LXC's lxc-start"),
        ("/nonexistent/lxc-start", "is not an executable file"),
    ] {
        let reason = reason(path);
        assert!(
            reason.contains(expected) || reason.contains("needs root"),
            "{path}: {reason}"
        );
        assert!(!reason.contains('\n'), "{reason:?}");
    }
    let isolator = LxcIsolator::new(&with_engine("/bin/true"));
    let error = match isolator.prepare(&Workload::noop(), Path::new("/nonexistent")) {
        Ok(_) => panic!("prepare with /bin/true must fail"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains("is not LXC's lxc-start"), "{error}");
}
