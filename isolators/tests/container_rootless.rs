//! The container launcher as an ordinary user: a user namespace mapping root to that user, and
//! a cgroup only where one is delegated. As root, the test re-runs itself as uid 65534.
mod container_support;

use std::process::Command;
use std::time::Duration;

use container_support::Leaks;
use isolators::cgroup::CgroupPlan;
use isolators::container::ContainerIsolator;
use isolators::testing::{check_on_path, check_root, run_if};
use isolators::Launcher;
use isolators::{Availability, Host, Isolator};

const TIMEOUT: Duration = Duration::from_secs(10);
/// Set when this binary runs itself as another user.
const INNER: &str = "ISOBENCH_CONTAINER_INNER";
const NOBODY: u32 = 65534;

#[test]
fn launches_as_nobody_in_a_user_namespace() {
    let test = "launches_as_nobody_in_a_user_namespace";
    if !run_if(test, "root", check_root()) || !run_if(test, "root", check_on_path("setpriv")) {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let output = Command::new("setpriv")
        .args([
            format!("--reuid={NOBODY}"),
            format!("--regid={NOBODY}"),
            "--clear-groups".into(),
        ])
        .arg(&exe)
        .args(["--exact", "as_this_user", "--nocapture", "--test-threads=1"])
        .env(INNER, "1")
        .env("TMPDIR", "/tmp")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "as uid {NOBODY}:\n{text}");
    assert!(
        text.contains("INNER-RESULT"),
        "the inner test did not run:\n{text}"
    );
    eprintln!(
        "{}",
        text.lines()
            .filter(|l| l.contains("INNER-RESULT"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Runs only when `launches_as_nobody_in_a_user_namespace` starts it as another user.
#[test]
fn as_this_user() {
    if std::env::var_os(INNER).is_none() {
        isolators::testing::skip(
            "as_this_user",
            "runs only inside launches_as_nobody_in_a_user_namespace",
        );
        return;
    }
    let uid = nix::unistd::geteuid().as_raw();
    assert_ne!(uid, 0, "the inner test must not run as root");
    let host = Host::detect();
    let isolator = ContainerIsolator::new();
    if let Availability::Unavailable { reason } = isolator.availability(&host) {
        assert!(
            !host.user_namespaces,
            "unavailable although user namespaces work: {reason}"
        );
        assert!(
            reason.contains("not root and") && reason.contains("run as root or enable them"),
            "{reason}"
        );
        println!("INNER-RESULT unavailable, as expected here: {reason}");
        return;
    }
    let description = isolator.describe();
    assert!(
        description.boundary.contains("user namespace"),
        "{description:?}"
    );
    assert!(description
        .notes
        .iter()
        .any(|n| n.starts_with(&format!("rootless: root in the container is uid {uid}"))));
    let delegated = !matches!(isolator.cgroup_plan(), CgroupPlan::Unavailable { .. });
    if !delegated {
        assert!(
            description
                .notes
                .iter()
                .any(|n| n.starts_with("no cgroup: ")),
            "{description:?}"
        );
    }

    let scratch = tempfile::tempdir().unwrap();
    let mut container = container_support::prepare_in(&isolator, "noop", scratch.path());
    let before = Leaks::snapshot(&container, scratch.path());
    let mut instance = container.launch().unwrap();
    let ready = instance.wait_ready(TIMEOUT).unwrap();
    let resources = instance.resources();
    let pid = resources.pids[0];
    for ns in ["user", "mnt", "pid", "uts", "ipc", "net", "cgroup"] {
        let link = |p: &str| std::fs::read_link(format!("/proc/{p}/ns/{ns}")).unwrap();
        assert_ne!(
            link(&pid.to_string()),
            link("self"),
            "the probe shares our {ns} namespace"
        );
    }
    let uid_map = std::fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap();
    assert_eq!(
        uid_map.split_whitespace().collect::<Vec<_>>(),
        ["0", &uid.to_string(), "1"]
    );
    let mounts = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    let root_line = mounts.lines().next().unwrap();
    assert!(
        root_line.split(' ').nth(4) == Some("/")
            && root_line.split(' ').nth(5).unwrap().starts_with("ro"),
        "{mounts}"
    );
    assert!(std::fs::metadata(format!("/proc/{pid}/root/dev/null")).is_ok());
    assert_eq!(resources.cgroup.is_some(), delegated);
    let memory = instance.memory().unwrap();
    assert!(memory.pss_bytes > 0, "{memory:?}");
    instance.release().unwrap();
    instance.wait_gone(TIMEOUT).unwrap();
    drop(instance);
    Leaks::snapshot(&container, scratch.path()).assert_same_as(&before);
    println!(
        "INNER-RESULT launched as uid {uid}: cgroup {delegated}, phases {:?}",
        ready.phases
    );

    // io: the instance's directory bound at /tmp inside the user namespace, then gone.
    let scratch = tempfile::tempdir().unwrap();
    let mut container = container_support::prepare_in(&isolator, "io:64", scratch.path());
    let before = Leaks::snapshot(&container, scratch.path());
    let mut instance = container.launch().unwrap();
    let ready = instance.wait_ready(TIMEOUT).unwrap();
    isolators::testing::assert_io_wrote(&ready.report, 64 * 1024);
    assert_eq!(
        isolators::testing::io_instance_dirs(scratch.path()).len(),
        1
    );
    instance.release().unwrap();
    instance.wait_gone(TIMEOUT).unwrap();
    drop(instance);
    Leaks::snapshot(&container, scratch.path()).assert_same_as(&before);
    println!(
        "INNER-RESULT io:64 as uid {uid}: work_ns {:?}",
        ready.report.get("work_ns")
    );
}
