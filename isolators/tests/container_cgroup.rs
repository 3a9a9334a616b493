//! Per-instance cgroups on the real kernel: the v2 path (clone into cgroup, cgroup.kill) on a
//! hybrid host's cgroup2 mount, parents that come and go, and joins that do not wait.
mod container_support;

use std::time::Duration;

use container_support::{lock, may_launch, prepared, Leaks, TIMEOUT};
use isolators::container::ContainerIsolator;
use isolators::Isolator;
use isolators::Launcher;

#[test]
fn cgroup_parents_are_removed_with_the_last_isolator_and_recreated_on_demand() {
    if !may_launch("cgroup_parents_are_removed_with_the_last_isolator_and_recreated_on_demand") {
        return;
    }
    let _serial = lock();
    let (_scratch_a, mut first) = prepared("noop");
    let (_scratch_b, second) = prepared("noop");
    let parents = first.cgroup_plan().parents();
    assert!(parents.iter().all(|p| p.is_dir()));
    drop(second); // No instance anywhere: the parents go.
    assert!(parents.iter().all(|p| !p.exists()), "{parents:?}");
    let mut instance = first.launch().unwrap();
    instance.wait_ready(TIMEOUT).unwrap();
    assert!(parents.iter().all(|p| p.is_dir()));
    drop(first); // An instance is still inside: the parents stay.
    assert!(parents.iter().all(|p| p.is_dir()));
    drop(instance);
}

#[test]
fn v2_clone_into_cgroup_on_the_hybrid_cgroup2_mount() {
    let test = "v2_clone_into_cgroup_on_the_hybrid_cgroup2_mount";
    let layout = isolators::cgroup::CgroupLayout::detect();
    let isolators::cgroup::CgroupLayout::Hybrid { unified, .. } = &layout else {
        isolators::testing::skip(
            test,
            &format!("host is {layout}, not hybrid (the other tests cover its own layout)"),
        );
        return;
    };
    if !may_launch(test) {
        return;
    }
    let _serial = lock();
    let scratch = tempfile::tempdir().unwrap();
    let v2 = isolators::cgroup::CgroupLayout::Unified {
        root: unified.clone(),
    };
    let isolator = ContainerIsolator::with_cgroup_layout(&v2);
    let mut container = container_support::prepare_in(&isolator, "noop", scratch.path());
    assert!(isolator
        .describe()
        .notes
        .iter()
        .any(|n| n.contains("no memory controller")));
    let before = Leaks::snapshot(&container, scratch.path());
    for release in [true, false] {
        let mut instance = container.launch().unwrap();
        instance.wait_ready(TIMEOUT).unwrap();
        let pid = instance.resources().pids[0];
        let membership = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        let line = membership.lines().find(|l| l.starts_with("0::")).unwrap();
        assert!(
            line.starts_with("0::/isobench/"),
            "not cloned into its cgroup2 directory: {line}"
        );
        if release {
            instance.release().unwrap();
            instance.wait_gone(TIMEOUT).unwrap();
        } // else: Drop kills it (through cgroup.kill as well) and removes the directory.
    }
    Leaks::snapshot(&container, scratch.path()).assert_same_as(&before);
}

#[test]
fn a_cold_launch_does_not_wait_for_a_cgroup_migration() {
    // Moving a process with cgroup.procs waits for an RCU grace period (5-20 ms) when no
    // migration happened lately; the launcher's join must not. Launches spaced out go cold.
    if !may_launch("a_cold_launch_does_not_wait_for_a_cgroup_migration") {
        return;
    }
    let _serial = lock();
    let (_scratch, mut container) = prepared("noop");
    let mut join_and_mounts_ns = Vec::new();
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(200));
        let mut instance = container.launch().unwrap();
        let ready = instance.wait_ready(TIMEOUT).unwrap();
        let at = |name: &str| ready.phases.iter().find(|(n, _)| n == name).unwrap().1;
        join_and_mounts_ns.push(at("mounts") - at("clone"));
        instance.release().unwrap();
        instance.wait_gone(TIMEOUT).unwrap();
    }
    let median = container_support::median(&mut join_and_mounts_ns);
    assert!(
        median < 3_000_000,
        "cgroup join + mounts took {median} ns (median of 5 cold launches)"
    );
}
