//! Docker adapter: a full lifecycle against a running daemon, a launch that never gets ready,
//! and no container left behind by either.
mod external_support;

use isolators::external::docker::{leftover_containers, DockerIsolator};
use isolators::registry::RegistryOptions;
use isolators::testing::{check_root, run_if, which};
use isolators::{Availability, Host, Isolator};

fn check_docker() -> Result<(), String> {
    check_root()?;
    match DockerIsolator::new(&RegistryOptions::default()).availability(&Host::detect()) {
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
    let mut isolator = DockerIsolator::new(&RegistryOptions::default());
    let (startup_ns, memory) = external_support::lifecycle(&mut isolator, scratch.path());
    eprintln!("docker startup {} µs, {memory:?}", startup_ns / 1000);
    assert!(memory.processes >= 3, "client, shim and probe: {memory:?}");
    assert_eq!(leftover_containers(&client), Vec::<String>::new());
    external_support::never_ready_cleans_up(&mut isolator, scratch.path());
    assert_eq!(leftover_containers(&client), Vec::<String>::new());
}
