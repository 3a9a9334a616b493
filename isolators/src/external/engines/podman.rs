//! Podman (daemonless): `podman run --rm -i --network none` of the imported probe image, each
//! container watched by its own conmon. Debian's podman asks for rlimits above common hard
//! limits (nofile/nproc), so runs pin them to 1024; on hybrid cgroup hosts it uses runc,
//! because its default runtime (crun 1.8) refuses them. Both are noted in the description.
use super::cli::{CliIsolator, CliProfile};
use crate::cgroup::CgroupLayout;
use crate::external::engine::EngineSpec;
use crate::options::IsolatorOptions;

pub fn podman(options: &IsolatorOptions) -> CliIsolator {
    let mut run_args: Vec<String> = [
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut notes = vec![
        "--network none; --ulimit nofile=1024:1024 and nproc=1024:1024 (Debian's defaults exceed common hard limits)".to_string(),
        "memory counts client + conmon + probe".to_string(),
    ];
    if matches!(CgroupLayout::detect(), CgroupLayout::Hybrid { .. }) {
        run_args.extend(["--runtime".to_string(), "runc".to_string()]);
        notes
            .push("--runtime runc: crun 1.8, podman's default, refuses hybrid cgroup hosts".into());
    }
    let profile = CliProfile {
        engine: EngineSpec {
            name: "podman",
            program: "podman",
            install_hint: "apt-get install podman",
            version_marker: "podman version",
        },
        boundary: "shared kernel + namespaces + cgroup, via podman → conmon → OCI runtime",
        notes,
        run_args,
        helpers: &["conmon", "crun", "runc"],
        needs_daemon: false,
        cgroup_paths: |id| {
            vec![
                format!("libpod_parent/libpod-{id}"),
                format!("machine.slice/libpod-{id}.scope"),
            ]
        },
        host_env: "CONTAINER_HOST",
    };
    CliIsolator::new(profile, options)
}
