//! runsc (gVisor): the probe's system calls go to a user-space kernel (the Sentry), not the
//! host's. Run with `--platform=ptrace` (its KVM platform needs hardware KVM, and hangs on
//! software KVM) and `--network=none` (no netstack set-up). Instances are the runsc process,
//! the sandbox, the gofer and the ptrace stubs, all below the runsc we spawn.
use super::engine::Engine;
use super::oci::{Flavor, OciChannel};
use super::oci_isolator::{OciIsolator, OciProfile};
use crate::isolator::{KernelKind, Kind};
use crate::registry::RegistryOptions;

pub fn runsc(options: &RegistryOptions) -> OciIsolator {
    let profile = OciProfile {
        name: "runsc",
        kind: Kind::Sandbox,
        kernel: KernelKind::Userspace,
        boundary:
            "user-space kernel (gVisor Sentry, ptrace platform) + gofer + namespaces + cgroup",
        flavor: Flavor {
            global_args: vec!["--network=none".into(), "--platform=ptrace".into()],
            hide_unified: None,
            channel: OciChannel::Stdio,
        },
        notes: vec![
            "--platform=ptrace: the KVM platform needs hardware KVM (and hangs on software KVM)"
                .into(),
            "--network=none".into(),
        ],
        host_problem: None,
    };
    let engine = Engine::new(
        "runsc",
        "runsc",
        "apt-get install runsc",
        "runsc version",
        options,
    );
    OciIsolator::new(profile, engine)
}
