//! The native container launcher's `io` workload on the real kernel: each instance's own host
//! directory bound read-write at /tmp, and nothing (directory, mount) left after it.
mod container_support;

use container_support::{lock, may_launch, prepared, Leaks, TIMEOUT};
use isolators::testing::{io_instance_dirs, mounts_naming};
use isolators::Launcher;

#[test]
fn io_writes_in_its_own_tmp_and_leaves_nothing_behind() {
    if !may_launch("io_writes_in_its_own_tmp_and_leaves_nothing_behind") {
        return;
    }
    let _serial = lock();
    let (scratch, mut container) = prepared("io:64");
    let before = Leaks::snapshot(&container, scratch.path());
    for released in [true, false] {
        let mut instance = container.launch().unwrap();
        let ready = instance.wait_ready(TIMEOUT).unwrap();
        isolators::testing::assert_io_wrote(&ready.report, 64 * 1024);
        let dirs = io_instance_dirs(scratch.path());
        assert_eq!(dirs.len(), 1, "{dirs:?}");
        let resources = instance.resources();
        assert_eq!(resources.paths, dirs);
        // Inside: / read-only, /tmp a read-write, nosuid, nodev bind of that directory.
        let pid = resources.pids[0];
        let mounts = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
        let tmp: Vec<&str> = mounts
            .lines()
            .find(|l| l.split(' ').nth(4) == Some("/tmp"))
            .unwrap_or_else(|| panic!("no /tmp mount: {mounts}"))
            .split(' ')
            .collect();
        let options: Vec<&str> = tmp[5].split(',').collect();
        assert!(
            options.starts_with(&["rw"])
                && options.contains(&"nosuid")
                && options.contains(&"nodev"),
            "{tmp:?}"
        );
        let name = dirs[0].file_name().unwrap().to_str().unwrap();
        assert!(
            tmp[3].ends_with(name),
            "not the instance's directory: {tmp:?}"
        );
        let root = mounts.lines().find(|l| l.split(' ').nth(4) == Some("/"));
        assert!(
            root.unwrap().split(' ').nth(5).unwrap().starts_with("ro"),
            "{mounts}"
        );
        assert_eq!(
            mounts_naming(scratch.path()),
            Vec::<String>::new(),
            "on the host"
        );
        if released {
            instance.release().unwrap();
            instance.wait_gone(TIMEOUT).unwrap();
            assert!(!dirs[0].exists());
        }
        drop(instance);
        Leaks::snapshot(&container, scratch.path()).assert_same_as(&before);
    }
}
