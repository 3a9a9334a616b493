//! Docker through its client: dockerd → containerd → shim → runc; needs a running daemon.
use super::cli::{CliIsolator, CliProfile};
use crate::external::engine::EngineSpec;
use crate::options::IsolatorOptions;

/// Docker through its client; needs a running daemon.
pub fn docker(options: &IsolatorOptions) -> CliIsolator {
    let profile = CliProfile {
        engine: EngineSpec {
            name: "docker",
            program: "docker",
            install_hint: "apt-get install docker.io",
            version_marker: "docker version",
        },
        boundary: "shared kernel + namespaces + cgroup, via dockerd → containerd → shim → runc",
        notes: vec![
            "--network none; memory counts client + shim + probe, not the shared daemons".into(),
            "dockerd and containerd are shared daemons: the kernel memory and CPU they spend on this container cannot be attributed to it; the host cost (system-wide) counts them".into(),
        ],
        run_args: Vec::new(),
        helpers: &["dockerd", "containerd", "containerd-shim-runc-v2", "runc"],
        needs_daemon: true,
        cgroup_paths: |id| {
            vec![
                format!("docker/{id}"),
                format!("system.slice/docker-{id}.scope"),
            ]
        },
        host_env: "DOCKER_HOST",
    };
    CliIsolator::new(profile, options)
}
