//! Every external adapter's availability text: a missing `--engine` path, a binary that is not
//! the engine, and the table of names the registry lists. No engine needs to be installed.
use std::path::PathBuf;

use isolators::external;
use isolators::registry::IsolatorOptions;
use isolators::{Availability, Host, Isolator};

/// The names of every external adapter, each also its `--engine` key.
const NAMES: [&str; 16] = [
    "unshare",
    "bwrap",
    "runc",
    "crun",
    "lxc",
    "docker",
    "podman",
    "runsc",
    "qemu-microvm",
    "firecracker",
    "firecracker-restore",
    "cloud-hypervisor",
    "qemu-microvm-linux",
    "firecracker-linux",
    "cloud-hypervisor-linux",
    "qemu-tcg",
];

fn every_adapter_with(path_for: impl Fn(&str) -> PathBuf) -> Vec<Box<dyn Isolator>> {
    let options = IsolatorOptions {
        engine_paths: NAMES.iter().map(|n| (n.to_string(), path_for(n))).collect(),
        ..Default::default()
    };
    external::all(&options)
}

fn reason(isolator: &dyn Isolator, host: &Host) -> String {
    match isolator.availability(host) {
        Availability::Unavailable { reason } => reason,
        Availability::Available => panic!("{} is available with a bogus engine", isolator.name()),
    }
}

/// Reasons that come before the engine is looked at: not root, or /dev/kvm unusable (an
/// emulated VM needs no /dev/kvm).
fn host_reason(isolator: &dyn Isolator, reason: &str, host: &Host) -> bool {
    let kvm_vm = isolator.kind() == isolators::Kind::Microvm && !isolator.emulated();
    (!host.is_root && reason.contains("root")) || (kvm_vm && host.kvm.problem.is_some())
}

#[test]
fn registry_lists_every_adapter_once_in_table_order() {
    let names: Vec<String> = external::all(&IsolatorOptions::default())
        .iter()
        .map(|i| i.name().to_string())
        .collect();
    assert_eq!(names, NAMES);
    let all = isolators::registry::names(&IsolatorOptions::default());
    for name in NAMES {
        assert_eq!(
            all.iter().filter(|n| *n == name).count(),
            1,
            "{name} in {all:?}"
        );
    }
}

#[test]
fn missing_engine_path_is_named() {
    let host = Host::detect();
    for isolator in every_adapter_with(|name| PathBuf::from(format!("/nonexistent/{name}"))) {
        let reason = reason(isolator.as_ref(), &host);
        if host_reason(isolator.as_ref(), &reason, &host) {
            continue;
        }
        let expected = format!(
            "/nonexistent/{0} (from --engine {0}=/nonexistent/{0}) is not an executable file",
            isolator.name()
        );
        assert_eq!(reason, expected);
        assert!(
            isolator.describe().version.contains("unknown"),
            "{:?}",
            isolator.describe()
        );
    }
}

#[test]
fn wrong_binary_says_what_its_version_said() {
    let host = Host::detect();
    for isolator in every_adapter_with(|_| PathBuf::from("/bin/true")) {
        let reason = reason(isolator.as_ref(), &host);
        if host_reason(isolator.as_ref(), &reason, &host) {
            continue;
        }
        // `lxc-start --version` prints only a number, so LXC is told by its `--help`.
        let expected = match isolator.name() {
            "lxc" => "/bin/true is not LXC's lxc-start: `--help` said".to_string(),
            name => format!("/bin/true is not {name}: `--version` said"),
        };
        assert!(reason.starts_with(&expected), "{reason}");
        assert!(!reason.contains('\n'), "one line: {reason:?}");
    }
}

#[test]
fn bad_runsc_platform_is_refused_with_the_choices() {
    let isolator = external::oci::runsc::runsc_on(&IsolatorOptions::default(), "warp");
    let host = Host::detect();
    let reason = reason(&isolator, &host);
    assert!(
        reason.contains("root") || reason.contains("use ptrace, kvm or systrap"),
        "{reason}"
    );
}
