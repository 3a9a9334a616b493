//! The native container launcher on the real kernel: namespaces, cgroup memory, pivot_root,
//! teardown, and that nothing (process, cgroup, mount, file) outlives an instance.
mod container_support;

use std::time::Duration;

use container_support::{lock, may_launch, ns_link, prepared, Leaks, TIMEOUT};
use isolators::container::ContainerIsolator;
use isolators::testing::run_if;
use isolators::Launcher;
use isolators::{Error, Isolator, Workload};

#[test]
fn probe_runs_in_new_namespaces_with_cgroup_memory() {
    if !may_launch("probe_runs_in_new_namespaces_with_cgroup_memory") {
        return;
    }
    let _serial = lock();
    let (_scratch, mut container) = prepared("noop");
    let mut instance = container.launch().unwrap();
    let ready = instance.wait_ready(TIMEOUT).unwrap();
    assert_eq!(ready.report.get("mode").map(String::as_str), Some("noop"));
    let names: Vec<&str> = ready.phases.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        ["cgroup", "clone", "namespaces", "mounts", "exec", "ready"]
    );
    assert!(
        ready
            .phases
            .windows(2)
            .all(|w| w[0].1 > 0 && w[0].1 <= w[1].1),
        "{:?}",
        ready.phases
    );
    assert_eq!(
        ready.phases.last().unwrap().1,
        ready.ready_ns - instance.launched_ns()
    );

    let resources = instance.resources();
    let pid = resources.pids[0].to_string();
    for ns in ["mnt", "pid", "uts", "ipc", "net", "cgroup"] {
        assert_ne!(
            ns_link(&pid, ns),
            ns_link("self", ns),
            "the probe shares our {ns} namespace"
        );
    }
    assert_eq!(
        ns_link(&pid, "user"),
        ns_link("self", "user"),
        "root needs no user namespace"
    );

    // Its own process group, so a terminal's Ctrl-C reaches only the harness.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let pgrp = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .nth(2)
        .unwrap();
    assert_eq!(pgrp, pid, "the probe is not its own process group leader");

    // Its whole world: the read-only rootfs, its own /proc, a read-only tmpfs /dev (the
    // template's, shared by every copy; a user namespace's is the instance's own, writable,
    // with the device nodes bind-mounted into it). No old root left.
    let mounts = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    let points: Vec<(&str, &str)> = mounts
        .lines()
        .map(|l| l.split(' ').collect::<Vec<_>>())
        .map(|f| (f[4], f[5]))
        .filter(|(point, _)| !point.starts_with("/dev/"))
        .collect();
    assert_eq!(points.len(), 3, "{mounts}");
    assert!(
        points[0].0 == "/" && points[0].1.starts_with("ro"),
        "{mounts}"
    );
    assert!(
        mounts.contains(" /proc ")
            && mounts.contains(" - proc ")
            && mounts.contains(" /dev ")
            && mounts.contains(" - tmpfs ")
    );
    let dev = mounts.lines().find(|l| l.split(' ').nth(4) == Some("/dev"));
    assert!(
        dev.unwrap().split(' ').nth(5).unwrap().starts_with("ro,"),
        "{mounts}"
    );
    let root = format!("/proc/{pid}/root");
    let null = std::fs::metadata(format!("{root}/dev/null")).unwrap();
    assert_eq!(
        std::os::unix::fs::MetadataExt::rdev(&null),
        libc::makedev(1, 3)
    );
    assert!(std::path::Path::new(&format!("{root}/isobench-probe")).is_file());
    assert!(
        !std::path::Path::new(&format!("{root}/etc")).exists(),
        "the host's root is visible"
    );
    // Its network: only lo, and up (the local table holds 127.0.0.1).
    let devices = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap();
    assert_eq!(
        devices
            .lines()
            .skip(2)
            .map(|l| l.split(':').next().unwrap().trim())
            .collect::<Vec<_>>(),
        ["lo"]
    );
    assert!(std::fs::read_to_string(format!("/proc/{pid}/net/fib_trie"))
        .unwrap()
        .contains("127.0.0.1"));

    let cgroup = resources.cgroup.clone().expect("an instance cgroup");
    let probe_cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let name = cgroup.dir().file_name().unwrap().to_str().unwrap();
    assert!(
        probe_cgroups.contains(&format!("/isobench/{name}")),
        "{probe_cgroups}"
    );
    let memory = instance.memory().unwrap();
    assert!(memory.pss_bytes > 0 && memory.processes == 1, "{memory:?}");
    assert!(
        memory.cgroup_bytes.unwrap() > 0,
        "nothing charged to the cgroup: {memory:?}"
    );

    instance.release().unwrap();
    instance.wait_gone(TIMEOUT).unwrap();
    assert!(
        !cgroup.dir().exists(),
        "cgroup {} left behind",
        cgroup.dir().display()
    );
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
}

#[test]
fn touching_8_mib_shows_in_pss_and_cgroup() {
    if !may_launch("touching_8_mib_shows_in_pss_and_cgroup") {
        return;
    }
    let _serial = lock();
    // (total PSS, anonymous PSS, cgroup charge) of one instance holding after ready.
    let sample = |mode: &str| {
        let (_scratch, mut container) = prepared(mode);
        let mut instance = container.launch().unwrap();
        instance.wait_ready(TIMEOUT).unwrap();
        let memory = instance.memory().unwrap();
        let pid = instance.resources().pids[0];
        let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
        let anon_kib: u64 = rollup
            .lines()
            .find_map(|l| l.strip_prefix("Pss_Anon:"))
            .map(|v| v.trim().trim_end_matches("kB").trim().parse().unwrap())
            .unwrap();
        instance.release().unwrap();
        instance.wait_gone(TIMEOUT).unwrap();
        (
            memory.pss_bytes,
            anon_kib << 10,
            memory.cgroup_bytes.unwrap(),
        )
    };
    let (noop, touch) = (sample("noop"), sample("touch:8"));
    let what = format!("noop {noop:?}, touch:8 {touch:?} (PSS, anonymous PSS, cgroup)");
    // The 8 MiB are anonymous and charged to the instance cgroup, in full.
    assert!(touch.1 >= 8 << 20 && touch.2 >= 8 << 20, "{what}");
    // Differences: the probe's stack and heap vary by a page or two between runs, its text
    // pages by a few dozen (fault-around); allow that much, no more.
    assert!(touch.1 + (64 << 10) >= noop.1 + (8 << 20), "{what}");
    assert!(touch.2 + (64 << 10) >= noop.2 + (8 << 20), "{what}");
    assert!(touch.0 + (256 << 10) >= noop.0 + (8 << 20), "{what}");
}

#[test]
fn a_thousand_launches_leave_nothing_behind() {
    if !may_launch("a_thousand_launches_leave_nothing_behind") {
        return;
    }
    let _serial = lock();
    let (scratch, mut container) = prepared("noop");
    let before = Leaks::snapshot(&container, scratch.path());
    let open_fds = || std::fs::read_dir("/proc/self/fd").unwrap().count();
    let fds_before = open_fds();
    // About a second here: every launch copies the template mount namespace and makes a
    // cgroup and five namespaces, and each must be gone again.
    for _ in 0..1000 {
        let mut instance = container.launch().unwrap();
        instance.wait_ready(TIMEOUT).unwrap();
        instance.release().unwrap();
        instance.wait_gone(TIMEOUT).unwrap();
    }
    Leaks::snapshot(&container, scratch.path()).assert_same_as(&before);
    // No descriptor per launch stays open in the harness (a few may come and go with tests
    // running beside this one).
    let fds_after = open_fds();
    assert!(
        fds_after <= fds_before + 4,
        "{fds_before} open descriptors before 1000 launches, {fds_after} after"
    );
}

#[test]
fn timeouts_and_drops_mid_flight_leave_nothing_behind() {
    if !may_launch("timeouts_and_drops_mid_flight_leave_nothing_behind") {
        return;
    }
    let _serial = lock();
    // cpu:1000000 keeps the probe busy for minutes before it would signal ready.
    let (scratch, mut busy) = prepared("cpu:1000000");
    let before = Leaks::snapshot(&busy, scratch.path());
    let mut instance = busy.launch().unwrap();
    match instance.wait_ready(Duration::from_millis(100)) {
        Err(Error::Timeout { .. }) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
    drop(instance);
    // Dropped at once, before the probe has even run.
    drop(busy.launch().unwrap());
    Leaks::snapshot(&busy, scratch.path()).assert_same_as(&before);

    let (scratch, mut noop) = prepared("noop");
    let before = Leaks::snapshot(&noop, scratch.path());
    let mut instance = noop.launch().unwrap();
    assert!(matches!(
        instance.wait_ready(Duration::ZERO),
        Err(Error::Timeout { .. })
    ));
    drop(instance);
    // Dropped while ready and holding, never released.
    let mut instance = noop.launch().unwrap();
    instance.wait_ready(TIMEOUT).unwrap();
    drop(instance);
    Leaks::snapshot(&noop, scratch.path()).assert_same_as(&before);
}

#[test]
fn failures_are_reported_and_cleaned_up() {
    if !may_launch("failures_are_reported_and_cleaned_up") {
        return;
    }
    let _serial = lock();
    // A probe that cannot allocate its workload's memory (1 TiB) dies before ready.
    let (scratch, mut container) = prepared("touch:1048576");
    let before = Leaks::snapshot(&container, scratch.path());
    let mut instance = container.launch().unwrap();
    assert!(matches!(
        instance.wait_ready(TIMEOUT),
        Err(Error::DiedBeforeReady(_))
    ));
    instance.wait_gone(TIMEOUT).unwrap();
    drop(instance);
    Leaks::snapshot(&container, scratch.path()).assert_same_as(&before);

    // A rootfs without /proc fails inside the child; launch says where.
    std::fs::remove_dir(scratch.path().join("rootfs/proc")).unwrap();
    let mut container = ContainerIsolator::new()
        .prepare_rootfs(&scratch.path().join("rootfs"), &Workload::noop())
        .unwrap();
    let before = Leaks::snapshot(&container, scratch.path());
    let error = container
        .launch()
        .err()
        .expect("launch must fail without /proc")
        .to_string();
    assert!(
        error.contains("mount /proc") && error.contains("No such file"),
        "{error}"
    );
    Leaks::snapshot(&container, scratch.path()).assert_same_as(&before);

    let error = ContainerIsolator::new()
        .prepare_rootfs(scratch.path(), &Workload::noop())
        .err()
        .expect("a rootfs without the probe is refused")
        .to_string();
    assert!(
        error.contains("no isobench-probe in this rootfs"),
        "{error}"
    );
}

#[test]
fn startup_is_not_slower_than_unshare() {
    let test = "startup_is_not_slower_than_unshare";
    if !may_launch(test)
        || !run_if(
            test,
            "unshare",
            isolators::testing::check_on_path("unshare"),
        )
    {
        return;
    }
    let _serial = lock();
    let (scratch, mut container) = prepared("noop");
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for trial in 0..110 {
        let mut instance = container.launch().unwrap();
        let ready = instance.wait_ready(TIMEOUT).unwrap();
        instance.release().unwrap();
        instance.wait_gone(TIMEOUT).unwrap();
        let unshare_ns = container_support::unshare_startup_ns(&scratch.path().join("rootfs"));
        if trial >= 10 {
            ours.push(ready.ready_ns - instance.launched_ns());
            theirs.push(unshare_ns);
        }
    }
    let (ours, theirs) = (
        container_support::median(&mut ours),
        container_support::median(&mut theirs),
    );
    eprintln!(
        "startup medians over 100 interleaved trials: container {ours} ns, unshare {theirs} ns"
    );
    assert!(ours <= theirs, "container {ours} ns > unshare {theirs} ns");
}

#[test]
fn describes_itself_and_measures_its_disk() {
    let _serial = lock(); // prepare runs ldd: a child the leak checks would see.
    let container = ContainerIsolator::new();
    assert_eq!(
        (container.name(), container.kind()),
        ("container", isolators::Kind::Container)
    );
    let description = container.describe();
    assert!(
        description
            .boundary
            .contains("6 namespaces (mnt,pid,uts,ipc,net,cgroup)"),
        "{description:?}"
    );
    assert!(
        description.boundary.ends_with("pivot_root"),
        "{description:?}"
    );
    let scratch = tempfile::tempdir().unwrap();
    let launcher = ContainerIsolator::new()
        .prepare(&Workload::noop(), scratch.path())
        .unwrap();
    let disk = launcher.disk();
    let exe = std::env::current_exe().unwrap().canonicalize().unwrap();
    assert!(
        disk.runtime_files
            .contains(&exe.to_string_lossy().into_owned()),
        "{:?}",
        disk.runtime_files
    );
    assert!(disk.image_apparent_bytes >= isolators::probe::PROBE_BYTES.len() as u64);
}

#[test]
fn availability_gives_actionable_reasons() {
    let _serial = lock(); // Host::detect forks a child.
    let mut host = isolators::Host::detect();
    let container = ContainerIsolator::new();
    host.is_root = false;
    host.user_namespaces = false;
    match container.availability(&host) {
        isolators::Availability::Unavailable { reason } => assert!(
            reason.contains("not root and") && reason.contains("run as root or enable them"),
            "{reason}"
        ),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    host.user_namespaces = true;
    assert!(
        container.availability(&host).is_available()
            || matches!(
                host.cgroup,
                isolators::cgroup::CgroupLayout::Unsupported { .. }
            )
    );
    host.cgroup = isolators::cgroup::CgroupLayout::Unsupported {
        reason: "no cgroupfs — mount cgroup2".into(),
    };
    assert_eq!(
        container.availability(&host),
        isolators::Availability::unavailable("no cgroupfs — mount cgroup2")
    );
}
