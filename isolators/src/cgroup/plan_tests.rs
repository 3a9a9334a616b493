//! Instance-cgroup placement against fixture trees (isolators/tests/fixtures/cgroup/*): each has
//! a `root` standing for /sys/fs/cgroup and the `proc-self-cgroup` text of a process on that host.
use std::path::{Path, PathBuf};

use super::*;
use crate::cgroup::CgroupLayout;

fn fixture(name: &str) -> (PathBuf, String) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/cgroup")
        .join(name);
    let own = std::fs::read_to_string(dir.join("proc-self-cgroup")).unwrap();
    (dir.join("root"), own)
}

/// Copies a fixture tree into a temp dir, for tests that create directories in it.
fn writable_copy(name: &str) -> (tempfile::TempDir, PathBuf, String) {
    let (root, own) = fixture(name);
    let temp = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(&root)
        .arg(temp.path())
        .status()
        .unwrap();
    assert!(status.success());
    let copy = temp.path().join("root");
    (temp, copy, own)
}

#[test]
fn parses_own_cgroup_paths() {
    let (_, own) = fixture("v1");
    assert_eq!(
        own_cgroup_path(&own, |_, c| c.split(',').any(|c| c == "cpu")).unwrap(),
        "docker/0123abcd"
    );
    assert_eq!(own_cgroup_path(&own, |_, c| c == "pids"), None);
    assert_eq!(
        own_cgroup_path("0::/\n", |id, c| id == "0" && c.is_empty()).unwrap(),
        ""
    );
}

#[test]
fn v2_as_root_uses_a_child_of_the_root_with_memory_and_pids() {
    let (root, own) = fixture("v2");
    let layout = CgroupLayout::detect_at(&root);
    assert_eq!(layout.short_name(), "v2");
    let plan = CgroupPlan::plan(&layout, &own, Creator::Root);
    assert_eq!(
        plan,
        CgroupPlan::V2 {
            parent: root.join("isobench"),
            controllers: vec!["memory".into(), "pids".into()]
        }
    );
    assert_eq!(plan.memory_parent(), Some(root.join("isobench").as_path()));
}

#[test]
fn hybrid_as_root_uses_v1_memory_and_pids_under_our_own_cgroup() {
    let (root, own) = fixture("hybrid");
    let layout = CgroupLayout::detect_at(&root);
    assert_eq!(layout.short_name(), "hybrid");
    let plan = CgroupPlan::plan(&layout, &own, Creator::Root);
    let expected = CgroupPlan::V1 {
        memory_parent: root.join("memory/process_api/abc/isobench"),
        pids_parent: Some(root.join("pids/isobench")),
    };
    assert_eq!(plan, expected);
    assert_eq!(plan.parents().len(), 2);
}

#[test]
fn legacy_without_pids_uses_memory_only() {
    let (root, own) = fixture("v1");
    let layout = CgroupLayout::detect_at(&root);
    assert_eq!(layout.short_name(), "v1");
    let plan = CgroupPlan::plan(&layout, &own, Creator::Root);
    assert_eq!(
        plan,
        CgroupPlan::V1 {
            memory_parent: root.join("memory/docker/0123abcd/isobench"),
            pids_parent: None
        }
    );
}

#[test]
fn unsupported_layout_gives_its_reason() {
    let empty = tempfile::tempdir().unwrap();
    let plan = CgroupPlan::plan(
        &CgroupLayout::detect_at(empty.path()),
        "0::/\n",
        Creator::Root,
    );
    match plan {
        CgroupPlan::Unavailable { reason } => assert!(reason.contains("mount cgroup2"), "{reason}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[test]
fn other_users_get_no_cgroup_without_delegation() {
    // Nothing in the fixture belongs to this uid, so nothing is delegated to it.
    let nobody = Creator::User { uid: 4_000_000 };
    for name in ["v2", "hybrid", "v1"] {
        let (root, own) = fixture(name);
        match CgroupPlan::plan(&CgroupLayout::detect_at(&root), &own, nobody) {
            CgroupPlan::Unavailable { reason } => {
                assert!(
                    reason.contains("no cgroup delegated to uid 4000000")
                        && reason.contains("Delegate=yes"),
                    "{name}: {reason}"
                )
            }
            other => panic!("{name}: expected Unavailable, got {other:?}"),
        }
    }
}

#[test]
fn delegated_subtree_is_used_from_its_top() {
    if !crate::testing::run_if(
        "delegated_subtree_is_used_from_its_top",
        "root",
        crate::testing::check_root(),
    ) {
        return;
    }
    let (_temp, root, _) = writable_copy("v2");
    let user = root.join("user.slice/user-1000.slice/user@1000.service");
    for dir in [user.clone(), user.join("app.slice")] {
        std::os::unix::fs::chown(&dir, Some(1000), Some(1000)).unwrap();
    }
    let own = "0::/user.slice/user-1000.slice/user@1000.service/app.slice\n";
    let plan = CgroupPlan::plan(
        &CgroupLayout::detect_at(&root),
        own,
        Creator::User { uid: 1000 },
    );
    // user@1000.service has no cgroup.controllers in the fixture: no controllers to enable.
    assert_eq!(
        plan,
        CgroupPlan::V2 {
            parent: user.join("isobench"),
            controllers: vec![]
        }
    );
}

#[test]
fn v2_instance_directories_are_created_and_removed() {
    let (_temp, root, own) = writable_copy("v2");
    let plan = CgroupPlan::plan(&CgroupLayout::detect_at(&root), &own, Creator::Root);
    // A plain directory accepts the subtree_control write like cgroupfs would.
    plan.ensure_parents().unwrap();
    let subtree = std::fs::read_to_string(root.join("isobench/cgroup.subtree_control")).unwrap();
    assert_eq!(subtree, "+memory +pids");
    let mut first = plan.create_instance().unwrap();
    let second = plan.create_instance().unwrap();
    assert_ne!(first.dirs(), second.dirs(), "instance names must be unique");
    assert!(first.dirs()[0].starts_with(root.join("isobench")) && first.dirs()[0].is_dir());
    assert!(first.clone_into_fd().is_some() && first.join_fds().is_empty());
    assert!(matches!(
        first.memory_source(),
        Some(crate::cgroup::CgroupMemorySource::V2(_))
    ));
    first.remove(std::time::Duration::from_secs(1)).unwrap();
    let dir = second.dirs()[0].clone();
    drop(second);
    assert!(!dir.exists(), "Drop must remove the instance directory");
    let left: Vec<_> = std::fs::read_dir(root.join("isobench"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().is_dir())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn a_failed_v1_instance_leaves_no_directory() {
    // Plain directories have no `tasks` file to open, so creation fails after the mkdir.
    let (_temp, root, own) = writable_copy("hybrid");
    let plan = CgroupPlan::plan(&CgroupLayout::detect_at(&root), &own, Creator::Root);
    plan.ensure_parents().unwrap();
    let error = plan.create_instance().unwrap_err().to_string();
    assert!(error.contains("/tasks"), "{error}");
    for parent in plan.parents() {
        assert_eq!(
            std::fs::read_dir(&parent).unwrap().count(),
            0,
            "{} is not empty",
            parent.display()
        );
    }
}
