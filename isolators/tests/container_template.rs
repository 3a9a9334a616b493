//! Instances of one prepared container share its template mount namespace only as a starting
//! point: each launch's copy is its own, and so is its /proc.
mod container_support;

use container_support::{lock, may_launch, ns_link, prepared, TIMEOUT};
use isolators::Launcher;

/// Instances of one prepared rootfs copy one template mount namespace: each copy is its own
/// (a mount in one is not seen by another, nor by the host), and each /proc is its own.
#[test]
fn instances_from_one_template_get_their_own_mount_namespaces() {
    if !may_launch("instances_from_one_template_get_their_own_mount_namespaces") {
        return;
    }
    let _serial = lock();
    let (_scratch, mut container) = prepared("noop");
    let mut first = container.launch().unwrap();
    let mut second = container.launch().unwrap();
    first.wait_ready(TIMEOUT).unwrap();
    second.wait_ready(TIMEOUT).unwrap();
    let pids = [first.resources().pids[0], second.resources().pids[0]];
    let [a, b] = pids.map(|pid| pid.to_string());
    assert_ne!(ns_link(&a, "mnt"), ns_link(&b, "mnt"));
    assert_ne!(ns_link(&a, "net"), ns_link(&b, "net"));
    // Each /proc shows one process: its own probe, PID 1 of its own pid namespace.
    for pid in [&a, &b] {
        let listed: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/root/proc"))
            .unwrap()
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| name.bytes().all(|c| c.is_ascii_digit()))
            .collect();
        assert_eq!(listed, ["1"], "/proc of {pid}");
    }
    // A mount made in one copy stays there.
    let ns = std::fs::File::open(format!("/proc/{a}/ns/mnt")).unwrap();
    // SAFETY: the forked child only makes system calls (setns, mount) and exits.
    match unsafe { nix::unistd::fork() }.unwrap() {
        nix::unistd::ForkResult::Child => {
            use std::os::fd::AsRawFd;
            // SAFETY: setns on an open namespace descriptor; mount with valid C strings.
            let ok = unsafe {
                libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNS) == 0
                    && libc::mount(
                        c"marker".as_ptr(),
                        c"/tmp".as_ptr(),
                        c"tmpfs".as_ptr(),
                        0,
                        std::ptr::null(),
                    ) == 0
            };
            // SAFETY: ends the forked child without running the test harness's exit path.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            let status = nix::sys::wait::waitpid(child, None).unwrap();
            assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child, 0));
        }
    }
    let has_marker = |pid: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))
            .unwrap()
            .contains(" marker ")
    };
    assert!(has_marker(&a));
    assert!(!has_marker(&b), "a mount in one instance showed in another");
    assert!(
        !has_marker("self"),
        "a mount in an instance showed on the host"
    );
    for mut instance in [first, second] {
        instance.release().unwrap();
        instance.wait_gone(TIMEOUT).unwrap();
    }
}
