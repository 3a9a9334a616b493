//! crun, the OCI runtime in C: `crun run` of the probe bundle. crun 1.8 refuses hybrid cgroup
//! hosts, so there it runs in a private mount namespace without the cgroup2 mount (and so
//! treats the host as cgroup v1), which the description notes.
use super::bundle::OciChannel;
use super::isolator::{OciIsolator, OciProfile};
use super::runtime::Flavor;
use crate::cgroup::CgroupLayout;
use crate::external::engine::EngineSpec;
use crate::isolator::{KernelKind, Kind};
use crate::options::IsolatorOptions;

pub fn crun(options: &IsolatorOptions) -> OciIsolator {
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
        engine: EngineSpec {
            name: "crun",
            program: "crun",
            install_hint: "apt-get install crun",
            version_marker: "crun version",
        },
        kind: Kind::Container,
        kernel: KernelKind::Shared,
        boundary: "shared kernel + 5 namespaces (mount, pid, uts, ipc, net) + cgroup".into(),
        flavor: Flavor {
            global_args: Vec::new(),
            hide_unified,
            channel: OciChannel::PreservedFds,
        },
        notes,
        host_problem: None,
    };
    OciIsolator::new(profile, options)
}
