//! Crash recovery end to end: the real `isobench` killed with SIGKILL in the middle of
//! `density` and of `run` leaves instance cgroups and scratch dirs (counted here, so the crash
//! case is real); the next `isobench clean`, or the next `isobench run`, removes every one of
//! them and names what it removed, and a live isobench's are left alone.
//!
//! Leftovers are counted independently of the reaper: every directory in /sys/fs/cgroup named
//! `<pid>-…` or `isobench-<pid>-…` after the killed process, and its `isobench-<pid>-…` dirs in
//! the TMPDIR the test gave it.
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use isolators::testing::{check_on_path, check_root, run_if};

/// The tests take turns: one's `isobench clean` would remove the other's leftovers before it
/// counts them.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A 2000-instance density: at about 150 launches/s here, held instances pile up for seconds.
const DENSITY: [&str; 7] = [
    "density",
    "-i",
    "container",
    "--instances",
    "2000",
    "--parallel",
    "2",
];

fn check_cgroup() -> Result<(), String> {
    match isolators::cgroup::CgroupPlan::detect(&isolators::cgroup::CgroupLayout::detect()) {
        isolators::cgroup::CgroupPlan::Unavailable { reason } => Err(reason),
        _ => Ok(()),
    }
}

fn gated(test: &str, engine: Option<&str>) -> bool {
    run_if(test, "root", check_root())
        && run_if(test, "cgroup", check_cgroup())
        && engine.is_none_or(|e| run_if(test, e, check_on_path(e)))
}

fn isobench(tmp: &Path) -> Command {
    let mut cmd = Command::cargo_bin("isobench").unwrap();
    cmd.env("TMPDIR", tmp).env("NO_COLOR", "1");
    cmd
}

/// Starts `args` with its output in files under `tmp`.
fn spawn(tmp: &Path, args: &[&str], log: &str) -> Child {
    let out = tmp.join(format!("{log}-out"));
    isobench(tmp)
        .args(args)
        .arg("--out")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(tmp.join(format!("{log}.stderr"))).unwrap())
        .spawn()
        .unwrap()
}

/// Every cgroup directory named after `pid` (not descending into them).
fn cgroups_of(pid: u32) -> Vec<PathBuf> {
    let prefixes = [format!("{pid}-"), format!("isobench-{pid}-")];
    let mut found = Vec::new();
    let mut stack = vec![PathBuf::from("/sys/fs/cgroup")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            if prefixes.iter().any(|p| name.starts_with(p)) {
                found.push(entry.path());
            } else {
                stack.push(entry.path());
            }
        }
    }
    found
}

/// `pid`'s scratch dirs in `tmp`.
fn scratch_of(tmp: &Path, pid: u32) -> Vec<PathBuf> {
    let prefix = format!("isobench-{pid}-");
    std::fs::read_dir(tmp)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
}

/// Waits until `ready` holds for `child`, failing with its stderr if it exits first.
fn wait_for(child: &mut Child, tmp: &Path, log: &str, what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(180);
    while !ready() {
        if let Some(status) = child.try_wait().unwrap() {
            let stderr = std::fs::read_to_string(tmp.join(format!("{log}.stderr")));
            panic!("isobench ended ({status}) before {what}: {stderr:?}");
        }
        assert!(Instant::now() < deadline, "no {what} after 180 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn kill_hard(child: &mut Child) {
    child.kill().unwrap(); // SIGKILL: no handler, no clean-up of its own
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL)
    );
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn clean(tmp: &Path) -> Output {
    let output = isobench(tmp).arg("clean").output().unwrap();
    assert!(output.status.success(), "isobench clean: {output:?}");
    output
}

/// Kills a 2000-instance density once `held` instance cgroups exist; returns the leftover
/// cgroups and scratch dirs, both checked non-empty.
fn killed_density(tmp: &Path, log: &str, held: usize) -> (u32, Vec<PathBuf>, Vec<PathBuf>) {
    let mut child = spawn(tmp, &DENSITY, log);
    let pid = child.id();
    wait_for(&mut child, tmp, log, "held instances", || {
        cgroups_of(pid).len() >= held
    });
    kill_hard(&mut child);
    let (cgroups, scratch) = (cgroups_of(pid), scratch_of(tmp, pid));
    eprintln!(
        "after kill -KILL of density: {} cgroups, {} scratch dirs",
        cgroups.len(),
        scratch.len()
    );
    assert!(cgroups.len() >= held, "instance cgroups survive the kill");
    assert!(!scratch.is_empty(), "scratch dirs survive the kill");
    (pid, cgroups, scratch)
}

#[test]
fn clean_removes_what_a_killed_density_left_and_leaves_a_live_ones() {
    if !gated("crash_cleanup::density_then_clean", None) {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let tmp = tmp.path();

    // Live: a density still launching keeps everything through an `isobench clean`.
    let mut live = spawn(tmp, &DENSITY, "live");
    let live_pid = live.id();
    wait_for(&mut live, tmp, "live", "held instances", || {
        cgroups_of(live_pid).len() >= 200
    });
    let before = cgroups_of(live_pid);
    let output = clean(tmp);
    let after = cgroups_of(live_pid);
    assert!(
        !text(&output.stdout).contains(&live_pid.to_string()),
        "{output:?}"
    );
    assert!(after.len() >= before.len(), "a live density's cgroups stay");
    assert!(
        !scratch_of(tmp, live_pid).is_empty(),
        "its scratch dirs stay"
    );
    kill_hard(&mut live);

    // Dead: the same process, now killed, leaves everything; clean removes all of it.
    let (cgroups, scratch) = (cgroups_of(live_pid), scratch_of(tmp, live_pid));
    assert!(cgroups.len() >= before.len() && !scratch.is_empty());
    let output = clean(tmp);
    let stdout = text(&output.stdout);
    eprintln!("{stdout}");
    assert!(
        stdout.contains("removed ") && stdout.contains(" cgroups: "),
        "{stdout}"
    );
    assert!(
        stdout.contains("left by gone isobench pid") && stdout.contains(&live_pid.to_string()),
        "{stdout}"
    );
    for dir in &scratch {
        assert!(
            stdout.contains(&format!("removed scratch dir {}", dir.display())),
            "{stdout}"
        );
    }
    assert_eq!(cgroups_of(live_pid), Vec::<PathBuf>::new());
    assert_eq!(scratch_of(tmp, live_pid), Vec::<PathBuf>::new());
    assert_eq!(text(&clean(tmp).stdout).trim(), "nothing to clean");
}

#[test]
fn the_next_run_removes_what_a_killed_density_left() {
    if !gated("crash_cleanup::density_then_run", None) {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let tmp = tmp.path();
    let (pid, _, _) = killed_density(tmp, "density", 500);

    let output = isobench(tmp)
        .args(["run", "-i", "process", "--runs", "2", "--warmup", "0"])
        .args(["--host-batch", "0", "--out"])
        .arg(tmp.join("next-run"))
        .output()
        .unwrap();
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{output:?}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("isobench: removed what killed isobench processes left"))
        .unwrap_or_else(|| panic!("no clean-up line: {stderr}"));
    eprintln!("{line}");
    assert!(
        line.contains(&pid.to_string()) && line.contains(" cgroups ("),
        "{line}"
    );
    assert!(line.contains("scratch dirs"), "{line}");
    assert_eq!(cgroups_of(pid), Vec::<PathBuf>::new());
    assert_eq!(scratch_of(tmp, pid), Vec::<PathBuf>::new());
}

#[test]
fn clean_removes_what_a_killed_run_of_container_and_crun_left() {
    if !gated("crash_cleanup::run_then_clean", Some("crun")) {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let tmp = tmp.path();
    let args = [
        "run",
        "-i",
        "container,crun",
        "--runs",
        "100000",
        "--warmup",
        "0",
        "--host-batch",
        "0",
    ];
    let mut child = spawn(tmp, &args, "run");
    let pid = child.id();
    // process (the baseline), container and crun prepared, and trials under way.
    wait_for(&mut child, tmp, "run", "three scratch dirs", || {
        scratch_of(tmp, pid).len() >= 3
    });
    std::thread::sleep(Duration::from_secs(3));
    kill_hard(&mut child);
    let (cgroups, scratch) = (cgroups_of(pid), scratch_of(tmp, pid));
    eprintln!(
        "after kill -KILL of run: {} cgroups, {} scratch dirs",
        cgroups.len(),
        scratch.len()
    );
    assert!(scratch.len() >= 3, "{scratch:?}");

    let stdout = text(&clean(tmp).stdout);
    eprintln!("{stdout}");
    for dir in &scratch {
        assert!(
            stdout.contains(&format!("removed scratch dir {}", dir.display())),
            "{stdout}"
        );
    }
    assert_eq!(cgroups_of(pid), Vec::<PathBuf>::new());
    assert_eq!(scratch_of(tmp, pid), Vec::<PathBuf>::new());
}
