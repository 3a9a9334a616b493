//! crun, the OCI runtime in C: `crun run` of the probe bundle. crun 1.8 refuses hybrid cgroup
//! hosts, so there it runs in a private mount namespace without the cgroup2 mount (and so
//! treats the host as cgroup v1), which the description notes.
use super::engine::Engine;
use super::oci::{Flavor, OciChannel};
use super::oci_isolator::{OciIsolator, OciProfile};
use crate::cgroup::CgroupLayout;
use crate::isolator::{KernelKind, Kind};
use crate::registry::RegistryOptions;

pub fn crun(options: &RegistryOptions) -> OciIsolator {
    let mut notes = Vec::new();
    let hide_unified = match CgroupLayout::detect() {
        CgroupLayout::Hybrid { unified, .. } => {
            notes.push(format!(
                "cgroup2 mount ({}) hidden from crun (hybrid host): crun runs in a private mount namespace and uses cgroup v1",
                unified.display()
            ));
            Some(unified)
        }
        _ => None,
    };
    let profile = OciProfile {
        name: "crun",
        kind: Kind::Container,
        kernel: KernelKind::Shared,
        boundary: "shared kernel + 5 namespaces (mount, pid, uts, ipc, net) + cgroup",
        flavor: Flavor {
            global_args: Vec::new(),
            hide_unified,
            channel: OciChannel::PreservedFds,
        },
        notes,
        host_problem: None,
    };
    let engine = Engine::new(
        "crun",
        "crun",
        "apt-get install crun",
        "crun version",
        options,
    );
    OciIsolator::new(profile, engine)
}
