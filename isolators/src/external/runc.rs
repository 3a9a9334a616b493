//! runc, the reference OCI runtime (Go): `runc run` of the probe bundle.
use super::engine::Engine;
use super::oci::{Flavor, OciChannel};
use super::oci_isolator::{OciIsolator, OciProfile};
use crate::isolator::{KernelKind, Kind};
use crate::registry::RegistryOptions;

pub fn runc(options: &RegistryOptions) -> OciIsolator {
    let profile = OciProfile {
        name: "runc",
        kind: Kind::Container,
        kernel: KernelKind::Shared,
        boundary: "shared kernel + 5 namespaces (mount, pid, uts, ipc, net) + cgroup",
        flavor: Flavor {
            global_args: Vec::new(),
            hide_unified: None,
            channel: OciChannel::PreservedFds,
        },
        notes: Vec::new(),
        host_problem: None,
    };
    let engine = Engine::new(
        "runc",
        "runc",
        "apt-get install runc",
        "runc version",
        options,
    );
    OciIsolator::new(profile, engine)
}
