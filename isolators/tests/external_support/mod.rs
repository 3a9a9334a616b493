//! Shared lifecycle checks for the external engine tests.
#![allow(dead_code)]
use std::path::Path;
use std::time::Duration;

use isolators::testing::{io_instance_dirs, mounts_naming};
use isolators::{Host, Isolator, MemoryUsage, Workload};

/// Runs launch → ready → memory → release → gone once and checks nothing is left, and that
/// the memory sample covers exactly `processes` host processes (engine, shims, probe).
/// Returns the startup in nanoseconds and the memory sample.
pub fn lifecycle(isolator: &dyn Isolator, scratch: &Path, processes: u32) -> (u64, MemoryUsage) {
    let host = Host::detect();
    let availability = isolator.availability(&host);
    assert!(availability.is_available(), "{availability:?}");
    let mut launcher = isolator.prepare(&Workload::noop(), scratch).unwrap();
    let footprint = launcher.disk().clone();
    assert!(footprint.runtime_apparent_bytes > 0 && footprint.image_apparent_bytes > 0);
    let mut instance = launcher.launch().unwrap();
    let ready = instance.wait_ready(Duration::from_secs(60)).unwrap();
    let startup_ns = ready.ready_ns - instance.launched_ns();
    // The probe says mode=noop; the bare VM guest says mode=bare.
    let mode = ready.report.get("mode").map(String::as_str);
    assert!(matches!(mode, Some("noop" | "bare")), "{:?}", ready.report);
    let resources = instance.resources();
    let memory = instance.memory().unwrap();
    assert!(memory.pss_bytes > 0, "{memory:?}");
    let names: Vec<String> = resources
        .pids
        .iter()
        .map(|pid| command_name(*pid))
        .collect();
    assert_eq!(
        memory.processes, processes,
        "processes of the instance: {names:?}"
    );
    let released = std::time::Instant::now();
    instance.release().unwrap();
    instance.wait_gone(Duration::from_secs(60)).unwrap();
    eprintln!("{}: teardown {:?}", isolator.name(), released.elapsed());
    assert_nothing_runs_from(scratch);
    for pid in &resources.pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists() || is_zombie_or_other(*pid),
            "process {pid} of the instance is still running"
        );
    }
    for path in &resources.paths {
        assert!(!path.exists(), "{} was left behind", path.display());
    }
    drop(instance);
    (startup_ns, memory)
}

/// `io:64`: the probe writes and fsyncs 64 KiB in the instance's own writable directory
/// (`checksum=65536` on its ready line). The directory exists while the instance runs, is
/// listed in its resources, and is gone, with no mount of it on the host, after a released
/// teardown and after a Drop without release.
pub fn io_lifecycle(isolator: &dyn Isolator, scratch: &Path) {
    let io = "io:64".parse::<Workload>().unwrap();
    let mut launcher = isolator.prepare(&io, scratch).unwrap();
    for released in [true, false] {
        let mut instance = launcher.launch().unwrap();
        let ready = instance.wait_ready(Duration::from_secs(60)).unwrap();
        let report = |key: &str| ready.report.get(key).map(String::as_str);
        assert_eq!(
            (report("mode"), report("checksum")),
            (Some("io"), Some("65536")),
            "{:?}",
            ready.report
        );
        let dirs = io_instance_dirs(scratch);
        assert_eq!(dirs.len(), 1, "one directory per instance: {dirs:?}");
        let resources = instance.resources();
        assert!(resources.paths.contains(&dirs[0]), "{resources:?}");
        assert!(
            resources.pids.iter().any(|&pid| sees_io_dir(pid, &dirs[0])),
            "no process of the instance has {} mounted or in ISOBENCH_IO_DIR",
            dirs[0].display()
        );
        assert_eq!(mounts_naming(scratch), Vec::<String>::new(), "on the host");
        if released {
            instance.release().unwrap();
            instance.wait_gone(Duration::from_secs(60)).unwrap();
            assert!(!dirs[0].exists(), "{} outlived teardown", dirs[0].display());
        }
        drop(instance);
        assert_eq!(io_instance_dirs(scratch), Vec::<std::path::PathBuf>::new());
        assert_eq!(mounts_naming(scratch), Vec::<String>::new());
        assert_nothing_runs_from(scratch);
        eprintln!(
            "{}: io:64 work_ns {} ({})",
            isolator.name(),
            report("work_ns").unwrap_or("?"),
            if released { "released" } else { "dropped" }
        );
    }
}

/// Whether `pid` has `dir` mounted (a bind whose source ends in `io/<name>`) or names it in
/// ISOBENCH_IO_DIR (as `/tmp/<name>` inside a chroot).
fn sees_io_dir(pid: i32, dir: &Path) -> bool {
    let name = dir.file_name().unwrap().to_string_lossy().to_string();
    let mountinfo = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap_or_default();
    let bound = mountinfo.lines().any(|line| {
        line.split(' ')
            .nth(3)
            .is_some_and(|root| root.ends_with(&format!("/io/{name}")))
    });
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    let named = format!("ISOBENCH_IO_DIR=/tmp/{name}");
    bound || environ.split(|&b| b == 0).any(|v| v == named.as_bytes())
}

/// A launch dropped 1 ms in, usually before ready, must leave nothing behind. A fast engine
/// on a busy host can be ready by the time we look: then it is dropped while holding, which
/// must clean up just the same ([`probe_never_ready_cleans_up`] times out for certain).
pub fn never_ready_cleans_up(isolator: &dyn Isolator, scratch: &Path) {
    let mut launcher = isolator.prepare(&Workload::noop(), scratch).unwrap();
    let mut instance = launcher.launch().unwrap();
    if instance.wait_ready(Duration::from_millis(1)).is_ok() {
        eprintln!(
            "{}: ready within 1 ms; dropped while holding",
            isolator.name()
        );
    }
    let resources = instance.resources();
    drop(instance);
    for pid in &resources.pids {
        assert!(
            is_zombie_or_other(*pid) || !Path::new(&format!("/proc/{pid}")).exists(),
            "process {pid} survived Drop"
        );
    }
    for path in &resources.paths {
        assert!(!path.exists(), "{} survived Drop", path.display());
    }
    assert_nothing_runs_from(scratch);
}

/// The command name of `pid` (for assertion messages).
pub fn command_name(pid: i32) -> String {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    format!("{pid}:{}", comm.trim())
}

/// A launch whose probe runs but holds back its ready signal (a 30 s startup delay) must time
/// out, and Drop must then remove everything: processes, state entries, cgroups.
pub fn probe_never_ready_cleans_up(isolator: &dyn Isolator, scratch: &Path) {
    let silent = Workload::noop().with_startup_delay_us(30_000_000);
    let mut launcher = isolator.prepare(&silent, scratch).unwrap();
    let mut instance = launcher.launch().unwrap();
    let error = instance.wait_ready(Duration::from_secs(3)).unwrap_err();
    assert!(error.to_string().contains("timed out"), "{error}");
    let resources = instance.resources();
    assert!(
        !resources.pids.is_empty(),
        "the probe and its engine run while we wait"
    );
    drop(instance);
    for pid in &resources.pids {
        assert!(
            is_zombie_or_other(*pid),
            "process {} survived Drop",
            command_name(*pid)
        );
    }
    for path in &resources.paths {
        assert!(!path.exists(), "{} survived Drop", path.display());
    }
    assert_nothing_runs_from(scratch);
}

/// A pid that now names a different process (reused) or is gone counts as gone; we compare the
/// command name against the engine's and the probe's.
fn is_zombie_or_other(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => {
            let state = stat.rfind(')').and_then(|at| stat[at + 2..].chars().next());
            state == Some('Z')
        }
    }
}

/// Drops an instance `wait` after launch, ready or not (to kill engines half-way through
/// their set-up); nothing it showed may survive.
pub fn drop_after(isolator: &dyn Isolator, scratch: &Path, wait: Duration) {
    let mut launcher = isolator.prepare(&Workload::noop(), scratch).unwrap();
    let mut instance = launcher.launch().unwrap();
    let _ = instance.wait_ready(wait);
    let resources = instance.resources();
    drop(instance);
    for pid in &resources.pids {
        assert!(is_zombie_or_other(*pid), "process {pid} survived Drop");
    }
    for path in &resources.paths {
        assert!(!path.exists(), "{} survived Drop", path.display());
    }
    assert_nothing_runs_from(scratch);
}

/// No host process may run an executable from `scratch` (the probe of a rootfs there) once an
/// instance is dropped, including children forked after the last look at the process tree.
pub fn assert_nothing_runs_from(scratch: &Path) {
    let scratch = scratch.canonicalize().unwrap();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(exe) = std::fs::read_link(entry.path().join("exe")) else {
            continue;
        };
        assert!(
            !exe.starts_with(&scratch),
            "pid {:?} still runs {} after Drop",
            entry.file_name(),
            exe.display()
        );
    }
}
