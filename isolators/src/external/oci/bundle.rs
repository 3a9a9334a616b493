//! The OCI bundle of the probe (config.json built with oci-spec) and where OCI runtimes put
//! an instance's cgroups.
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    LinuxBuilder, LinuxNamespaceBuilder, LinuxNamespaceType, MountBuilder, ProcessBuilder,
    RootBuilder, Spec, SpecBuilder,
};

use crate::cgroup::CgroupMemorySource;
use crate::cgroup::{CgroupLayout, CGROUP_ROOT};
use crate::io_dir::INSTANCE_TMP;
use crate::isolator::Workload;
use crate::probe::PROBE_NAME;
use crate::Error;

/// Parent of every instance's cgroup (`cgroupsPath` = `/isobench-oci/<id>`).
pub const CGROUP_PARENT: &str = "isobench-oci";

/// The shared parent cgroup in every hierarchy where it exists (the runtimes create it).
pub fn cgroup_parent_dirs() -> Vec<std::path::PathBuf> {
    let root = std::path::Path::new("/sys/fs/cgroup");
    let mut candidates = vec![root.join(CGROUP_PARENT)];
    if let Ok(hierarchies) = std::fs::read_dir(root) {
        candidates.extend(hierarchies.flatten().map(|h| h.path().join(CGROUP_PARENT)));
    }
    candidates.into_iter().filter(|dir| dir.is_dir()).collect()
}

/// Removes the shared parent cgroup wherever no instance is left under it. The runtimes
/// delete each instance's cgroup but not the parent they created; one still in use (another
/// isobench, another launcher) refuses with EBUSY and stays.
pub fn remove_empty_cgroup_parents() {
    for dir in cgroup_parent_dirs() {
        let _ = std::fs::remove_dir(dir);
    }
}

/// The probe's channel fds inside the container (`--preserve-fds 2` passes 3 and 4).
pub const RELEASE_FD: RawFd = 3;
pub const READY_FD: RawFd = 4;

/// How the probe inside an OCI container signals ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OciChannel {
    /// Pipes passed with `--preserve-fds 2`, fds 3 and 4 inside (`--channel fd:3,4`).
    PreservedFds,
    /// The runtime's own stdin/stdout, which a terminal-less container inherits
    /// (`--channel stdio`); for runtimes without `--preserve-fds` (runsc before 2023).
    Stdio,
}

impl OciChannel {
    fn probe_arg(self) -> String {
        match self {
            OciChannel::PreservedFds => format!("fd:{RELEASE_FD},{READY_FD}"),
            OciChannel::Stdio => "stdio".into(),
        }
    }
}

/// The runtime spec every OCI instance runs: read-only probe rootfs, /proc and a tmpfs /dev,
/// mount/pid/uts/ipc/net namespaces, the probe with the given channel, no terminal. `tmp`, the
/// instance's own host directory for the `io` workload, is bound read-write at /tmp; each of
/// `tmpfs_dirs` (a user workload's /tmp and /run) gets an empty writable tmpfs.
pub fn probe_spec(
    rootfs: &Path,
    workload: &Workload,
    channel: OciChannel,
    cgroups_path: &str,
    tmp: Option<&Path>,
    tmpfs_dirs: &[&str],
) -> Result<Spec, Error> {
    let spec_error = |e: oci_spec::OciSpecError| Error::Engine(format!("OCI spec: {e}"));
    let namespaces = [
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Network,
    ]
    .into_iter()
    .map(|typ| LinuxNamespaceBuilder::default().typ(typ).build())
    .collect::<Result<Vec<_>, _>>()
    .map_err(spec_error)?;
    let mut mounts = vec![
        MountBuilder::default()
            .destination("/proc")
            .typ("proc")
            .source("proc")
            .build()
            .map_err(spec_error)?,
        MountBuilder::default()
            .destination("/dev")
            .typ("tmpfs")
            .source("tmpfs")
            .options(vec![
                "nosuid".to_string(),
                "strictatime".into(),
                "mode=755".into(),
                "size=65536k".into(),
            ])
            .build()
            .map_err(spec_error)?,
    ];
    if let Some(tmp) = tmp {
        mounts.push(
            MountBuilder::default()
                .destination(INSTANCE_TMP)
                .typ("bind")
                .source(tmp)
                .options(["bind", "rw", "nosuid", "nodev"].map(String::from).to_vec())
                .build()
                .map_err(spec_error)?,
        );
    }
    for dir in tmpfs_dirs {
        mounts.push(
            MountBuilder::default()
                .destination(dir)
                .typ("tmpfs")
                .source("tmpfs")
                .options(["nosuid", "nodev", "mode=1777"].map(String::from).to_vec())
                .build()
                .map_err(spec_error)?,
        );
    }
    let process = ProcessBuilder::default()
        .terminal(false)
        .args(vec![
            format!("/{PROBE_NAME}"),
            "--mode".into(),
            workload.to_string(),
            "--channel".into(),
            channel.probe_arg(),
        ])
        .env(vec!["PATH=/".to_string()])
        .cwd("/")
        .build()
        .map_err(spec_error)?;
    let linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .cgroups_path(PathBuf::from(cgroups_path))
        .build()
        .map_err(spec_error)?;
    SpecBuilder::default()
        .version("1.0.2")
        .hostname("isobench")
        .root(
            RootBuilder::default()
                .path(rootfs)
                .readonly(true)
                .build()
                .map_err(spec_error)?,
        )
        .mounts(mounts)
        .process(process)
        .linux(linux)
        .build()
        .map_err(spec_error)
}

/// The memory cgroup directory a runtime makes for `cgroups_path` on this layout.
pub fn memory_cgroup(layout: &CgroupLayout, cgroups_path: &str) -> Option<CgroupMemorySource> {
    let relative = cgroups_path.trim_start_matches('/');
    match layout {
        CgroupLayout::Unified { root } => Some(CgroupMemorySource::V2(root.join(relative))),
        CgroupLayout::Legacy { root } | CgroupLayout::Hybrid { root, .. } => {
            Some(CgroupMemorySource::V1(root.join("memory").join(relative)))
        }
        CgroupLayout::Unsupported { .. } => None,
    }
}

/// Every directory `cgroups_path` may have in any hierarchy (v1 controllers, named hierarchies
/// such as `systemd`, and cgroup2), whether or not it exists now.
pub fn all_cgroup_dirs(cgroups_path: &str) -> Vec<PathBuf> {
    let relative = cgroups_path.trim_start_matches('/');
    let root = Path::new(CGROUP_ROOT);
    let mut dirs = vec![root.join(relative)];
    if let Ok(entries) = std::fs::read_dir(root) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push(entry.path().join(relative));
            }
        }
    }
    dirs
}
