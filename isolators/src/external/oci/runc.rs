//! runc, the reference OCI runtime (Go): `runc run` of the probe bundle.
use super::bundle::OciChannel;
use super::isolator::{OciIsolator, OciProfile};
use super::runtime::Flavor;
use crate::external::engine::EngineSpec;
use crate::isolator::{KernelKind, Kind};
use crate::options::IsolatorOptions;

pub fn runc(options: &IsolatorOptions) -> OciIsolator {
    let profile = OciProfile {
        engine: EngineSpec {
            name: "runc",
            program: "runc",
            install_hint: "apt-get install runc",
            version_marker: "runc version",
        },
        kind: Kind::Container,
        kernel: KernelKind::Shared,
        boundary: "shared kernel + 5 namespaces (mount, pid, uts, ipc, net) + cgroup".into(),
        flavor: Flavor {
            global_args: Vec::new(),
            hide_unified: None,
            channel: OciChannel::PreservedFds,
        },
        notes: Vec::new(),
        host_problem: None,
    };
    OciIsolator::new(profile, options)
}
