//! Docker and Podman adapters: a full lifecycle against a running daemon, a launch that never gets ready,
//! and no container left behind by either.
mod external_support;

use isolators::external::engines::docker::docker;
use isolators::external::engines::leftover_containers;
use isolators::external::engines::podman::podman;
use isolators::registry::IsolatorOptions;
use isolators::testing::{check_on_path, check_root, run_if, which};
use isolators::{Availability, Host, Isolator};

fn check_docker() -> Result<(), String> {
    check_root()?;
    match docker(&IsolatorOptions::default()).availability(&Host::detect()) {
        Availability::Available => Ok(()),
        Availability::Unavailable { reason } => Err(reason),
    }
}

#[test]
fn docker_lifecycle() {
    if !run_if("docker_lifecycle", "docker", check_docker()) {
        return;
    }
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let client = which("docker").unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let isolator = docker(&IsolatorOptions::default());
    // The client, the container's containerd shim and the probe.
    let (startup_ns, memory) = external_support::lifecycle(&isolator, scratch.path(), 3);
    eprintln!("docker startup {} µs, {memory:?}", startup_ns / 1000);
    assert!(memory.processes >= 3, "client, shim and probe: {memory:?}");
    assert_eq!(leftover_containers(&client), Vec::<String>::new());
    external_support::never_ready_cleans_up(&isolator, scratch.path());
    assert_eq!(leftover_containers(&client), Vec::<String>::new());
    external_support::probe_never_ready_cleans_up(&isolator, scratch.path());
    assert_eq!(leftover_containers(&client), Vec::<String>::new());
    external_support::io_lifecycle(&isolator, scratch.path());
    assert_eq!(leftover_containers(&client), Vec::<String>::new());
    assert_no_monitor_left();
}

/// Serializes the two tests, so the leftover checks see only finished instances.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// No conmon or shim of this test process's containers may outlive them.
fn assert_no_monitor_left() {
    let prefix = format!("isobench-{}-", std::process::id());
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        assert!(
            !text.contains(&prefix),
            "pid {:?} still runs for one of our containers: {text}",
            entry.file_name()
        );
    }
}

#[test]
fn podman_lifecycle() {
    if !run_if("podman_lifecycle", "root", check_root())
        || !run_if("podman_lifecycle", "podman", check_on_path("podman"))
    {
        return;
    }
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let client = which("podman").unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let isolator = podman(&IsolatorOptions::default());
    // The client, conmon and the probe.
    let (startup_ns, memory) = external_support::lifecycle(&isolator, scratch.path(), 3);
    eprintln!("podman startup {} µs, {memory:?}", startup_ns / 1000);
    assert!(
        memory.processes >= 3,
        "client, conmon and probe: {memory:?}"
    );
    assert_eq!(leftover_containers(&client), Vec::<String>::new());
    external_support::never_ready_cleans_up(&isolator, scratch.path());
    assert_eq!(leftover_containers(&client), Vec::<String>::new());
    for wait_ms in [5, 30, 100] {
        external_support::drop_after(
            &isolator,
            scratch.path(),
            std::time::Duration::from_millis(wait_ms),
        );
        assert_eq!(leftover_containers(&client), Vec::<String>::new());
    }
    external_support::io_lifecycle(&isolator, scratch.path());
    assert_eq!(leftover_containers(&client), Vec::<String>::new());
    assert_no_monitor_left();
}
