//! Docker and Podman adapters: a full lifecycle against a running daemon, a launch that never gets ready,
//! and no container left behind by either.
mod external_support;

use isolators::external::docker::{docker, leftover_containers};
use isolators::external::podman::podman;
use isolators::registry::RegistryOptions;
use isolators::testing::{check_on_path, check_root, run_if, which};
use isolators::{Availability, Host, Isolator};

fn check_docker() -> Result<(), String> {
    check_root()?;
    match docker(&RegistryOptions::default()).availability(&Host::detect()) {
        Availability::Available => Ok(()),
        Availability::Unavailable { reason } => Err(reason),
    }
}

#[test]
fn docker_lifecycle() {
    if !run_if("docker_lifecycle", "docker", check_docker()) {
        return;
    }
    let client = which("docker").unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let mut isolator = docker(&RegistryOptions::default());
    let (startup_ns, memory) = external_support::lifecycle(&mut isolator, scratch.path());
    eprintln!("docker startup {} µs, {memory:?}", startup_ns / 1000);
    assert!(memory.processes >= 3, "client, shim and probe: {memory:?}");
    assert_eq!(leftover_containers(&client), Vec::<String>::new());
    external_support::never_ready_cleans_up(&mut isolator, scratch.path());
    assert_eq!(leftover_containers(&client), Vec::<String>::new());
}

#[test]
fn podman_lifecycle() {
    if !run_if("podman_lifecycle", "root", check_root())
        || !run_if("podman_lifecycle", "podman", check_on_path("podman"))
    {
        return;
    }
    let client = which("podman").unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let mut isolator = podman(&RegistryOptions::default());
    let (startup_ns, memory) = external_support::lifecycle(&mut isolator, scratch.path());
    eprintln!("podman startup {} µs, {memory:?}", startup_ns / 1000);
    assert!(
        memory.processes >= 3,
        "client, conmon and probe: {memory:?}"
    );
    assert_eq!(leftover_containers(&client), Vec::<String>::new());
    external_support::never_ready_cleans_up(&mut isolator, scratch.path());
    assert_eq!(leftover_containers(&client), Vec::<String>::new());
}
