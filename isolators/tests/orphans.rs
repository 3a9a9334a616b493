//! The crash-recovery reaper (`isolators::orphans`) against real cgroups, processes and mounts:
//! what a gone owner left is killed, unmounted and removed; what a live owner, an owner in
//! another pid namespace or an untagged name holds stays exactly as it was.
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use isolators::cgroup::{CgroupLayout, CgroupPlan};
use isolators::orphans::{self, Owner};
use isolators::testing::{check_on_path, check_root, run_if};

/// Set when this binary runs itself as another user; names the temp dir to reap.
const INNER: &str = "ISOBENCH_ORPHANS_INNER";
const NOBODY: u32 = 65534;

/// The tests take turns: one's reap would remove the other's planted orphans.
fn turn() -> std::sync::MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

fn cgroup_plan() -> Result<CgroupPlan, String> {
    match CgroupPlan::detect(&CgroupLayout::detect()) {
        CgroupPlan::Unavailable { reason } => Err(reason),
        plan => Ok(plan),
    }
}

/// The temp dir `tmp`, a cache inside it, and every cgroup hierarchy.
fn places(tmp: &Path) -> orphans::Places {
    orphans::Places {
        tmp_dir: tmp.to_path_buf(),
        cache_dir: tmp.join("cache"),
        cgroup_roots: orphans::cgroups::hierarchies(),
    }
}

/// An owner that existed and is gone: a child that ran, was killed and reaped.
fn gone_owner() -> Owner {
    let mut child = Command::new("sleep").arg("30").spawn().unwrap();
    let owner = Owner::of_pid(child.id() as i32).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    owner
}

/// What an owner leaves: an instance cgroup in every planned hierarchy with a `payload` child
/// holding a live process (as LXC's cgroups do), and a scratch dir with a tmpfs mounted inside.
struct Planted {
    cgroups: Vec<PathBuf>,
    sleeper: Child,
    scratch: PathBuf,
    mount: PathBuf,
}

fn plant(plan: &CgroupPlan, owner: &Owner, tmp: &Path, label: &str) -> Planted {
    plan.ensure_parents().unwrap();
    let sleeper = Command::new("sleep").arg("1000").spawn().unwrap();
    let mut cgroups = Vec::new();
    for parent in plan.parents() {
        let dir = parent.join(format!("{}-{label}", owner.tag()));
        std::fs::create_dir(&dir).unwrap();
        std::fs::create_dir(dir.join("payload")).unwrap();
        std::fs::write(dir.join("payload/cgroup.procs"), sleeper.id().to_string()).unwrap();
        cgroups.push(dir);
    }
    let scratch = tmp.join(format!("isobench-{}-{label}-x1", owner.tag()));
    let mount = scratch.join("mnt");
    std::fs::create_dir_all(&mount).unwrap();
    std::fs::write(scratch.join("rootfs-file"), "x").unwrap();
    nix::mount::mount(
        Some("tmpfs"),
        &mount,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        Some("size=1m"),
    )
    .unwrap();
    std::fs::write(mount.join("in-the-mount"), "x").unwrap();
    Planted {
        cgroups,
        sleeper,
        scratch,
        mount,
    }
}

fn mounted(point: &Path) -> bool {
    let text = point.to_string_lossy().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|line| line.split(' ').nth(4) == Some(text.as_str()))
}

/// Whatever a test leaves of a planted owner goes, even when an assertion failed.
impl Drop for Planted {
    fn drop(&mut self) {
        let _ = self.sleeper.kill();
        let _ = self.sleeper.wait();
        let _ = nix::mount::umount2(&self.mount, nix::mount::MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir_all(&self.scratch);
        for dir in &self.cgroups {
            let _ = std::fs::remove_dir(dir.join("payload"));
            let _ = std::fs::remove_dir(dir);
        }
    }
}

#[test]
fn a_gone_owners_cgroups_processes_mounts_and_scratch_go_and_a_live_owners_stay() {
    let test = "orphans::gone_and_live";
    if !run_if(test, "root", check_root()) || !run_if(test, "cgroup", cgroup_plan().map(|_| ())) {
        return;
    }
    let _turn = turn();
    let plan = cgroup_plan().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let tmp_path = tmp.path().canonicalize().unwrap();
    let dead = gone_owner();
    let mut orphan = plant(&plan, &dead, &tmp_path, "dead");
    let live = plant(&plan, &Owner::current(), &tmp_path, "live");
    // Another pid namespace's owner, and a name with no owner tag: never ours to judge.
    let foreign = Owner {
        pid_ns_inode: dead.pid_ns_inode + 1,
        ..dead
    };
    let foreign_scratch = tmp_path.join(format!("isobench-{}-process-x2", foreign.tag()));
    let untagged_scratch = tmp_path.join("isobench-process-AbCdEf");
    for dir in [&foreign_scratch, &untagged_scratch] {
        std::fs::create_dir(dir).unwrap();
    }
    // Files being written into the cache: the gone writer's go, the others stay.
    let cache = tmp_path.join("cache/bin/0123456789abcdef");
    std::fs::create_dir_all(&cache).unwrap();
    let partial = |owner: &Owner| cache.join(format!(".partial-{}-isobench-vmm", owner.tag()));
    let (dead_partial, live_partial) = (partial(&dead), partial(&Owner::current()));
    let untagged_partial = cache.join(".partial-Xy12Zq");
    for file in [&dead_partial, &live_partial, &untagged_partial] {
        std::fs::write(file, "half a file").unwrap();
    }

    // Instance cgroups named by isobench builds from before owner tags: `<pid>-<n>`.
    let old_dead: Vec<PathBuf> = plan
        .parents()
        .iter()
        .map(|p| p.join(format!("{}-7", dead.pid)))
        .collect();
    let old_live: Vec<PathBuf> = plan
        .parents()
        .iter()
        .map(|p| p.join(format!("{}-7", std::process::id())))
        .collect();
    for dir in old_dead.iter().chain(&old_live) {
        std::fs::create_dir(dir).unwrap();
    }

    let reaped = orphans::reap_in(&places(&tmp_path));

    assert!(old_dead.iter().all(|d| !d.exists()), "{reaped:?}");
    assert!(old_live.iter().all(|d| d.is_dir()), "{reaped:?}");
    for dir in &old_live {
        std::fs::remove_dir(dir).unwrap();
    }
    let status = orphan.sleeper.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "the process in the orphan cgroup is killed"
    );
    assert!(
        reaped.killed_pids.contains(&(orphan.sleeper.id() as i32)),
        "{reaped:?}"
    );
    for dir in &orphan.cgroups {
        assert!(!dir.exists(), "{} removed", dir.display());
        assert!(reaped.cgroups.contains(dir), "{dir:?} in {reaped:?}");
    }
    assert!(!mounted(&orphan.mount), "the orphan's mount is gone");
    assert!(reaped.mounts.contains(&orphan.mount), "{reaped:?}");
    assert!(!orphan.scratch.exists());
    assert!(reaped.scratch_dirs.contains(&orphan.scratch), "{reaped:?}");
    assert!(reaped.owners.contains(&dead.pid), "{reaped:?}");
    assert!(
        reaped
            .summary()
            .contains(&orphan.scratch.display().to_string()),
        "{}",
        reaped.summary()
    );

    let mut live = live;
    assert!(
        live.sleeper.try_wait().unwrap().is_none(),
        "a live owner's process runs on"
    );
    for dir in &live.cgroups {
        assert!(dir.join("payload").is_dir(), "{} stays", dir.display());
    }
    assert!(mounted(&live.mount), "a live owner's mount stays");
    assert!(live.mount.join("in-the-mount").is_file());
    assert!(foreign_scratch.is_dir() && untagged_scratch.is_dir());
    assert!(!dead_partial.exists() && reaped.other.contains(&dead_partial));
    assert!(live_partial.is_file() && untagged_partial.is_file());
    assert!(!reaped.owners.contains(&(std::process::id() as i32)));
    let again = orphans::reap_in(&places(&tmp_path));
    assert!(
        !again.scratch_dirs.iter().any(|d| d.starts_with(&tmp_path)),
        "nothing of ours is left to reap: {again:?}"
    );
    drop(live);
    plan.remove_parents();
}

#[test]
fn another_user_leaves_roots_orphans_alone_at_once() {
    let test = "orphans::another_user";
    if !run_if(test, "root", check_root())
        || !run_if(test, "cgroup", cgroup_plan().map(|_| ()))
        || !run_if(test, "root", check_on_path("setpriv"))
    {
        return;
    }
    let _turn = turn();
    let plan = cgroup_plan().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let tmp_path = tmp.path().canonicalize().unwrap();
    std::fs::set_permissions(
        &tmp_path,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let dead = gone_owner();
    let mut orphan = plant(&plan, &dead, &tmp_path, "roots");

    // As nobody: root's leftovers are not ours to remove; no failure, no wait on kill(EPERM).
    let started = std::time::Instant::now();
    let output = Command::new("setpriv")
        .args([
            format!("--reuid={NOBODY}"),
            format!("--regid={NOBODY}"),
            "--clear-groups".into(),
        ])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", "reap_as_this_user", "--nocapture"])
        .env(INNER, &tmp_path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "as uid {NOBODY}:\n{text}");
    assert!(text.contains("INNER-RESULT empty"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(3), "{text}");
    assert!(orphan.scratch.is_dir() && orphan.cgroups.iter().all(|d| d.is_dir()));
    assert!(orphan.sleeper.try_wait().unwrap().is_none());

    // As root the same orphan goes.
    let reaped = orphans::reap_in(&places(&tmp_path));
    assert!(reaped.scratch_dirs.contains(&orphan.scratch), "{reaped:?}");
    assert!(orphan.cgroups.iter().all(|d| !d.exists()), "{reaped:?}");
    plan.remove_parents();
}

/// Runs only when `another_user_leaves_roots_orphans_alone_at_once` starts it as nobody.
#[test]
fn reap_as_this_user() {
    let Some(tmp) = std::env::var_os(INNER) else {
        isolators::testing::skip(
            "reap_as_this_user",
            "runs only as another user's half of another test",
        );
        return;
    };
    let reaped = orphans::reap_in(&places(Path::new(&tmp)));
    let verdict = if reaped.is_empty() {
        "empty"
    } else {
        "not empty"
    };
    println!("INNER-RESULT {verdict}: {reaped:?}");
}
