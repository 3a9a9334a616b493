//! The container config isobench writes for each LXC instance, where LXC puts that instance's
//! cgroups and lock, and what on a host makes LXC refuse to start (cgroups, AppArmor).
//!
//! Each instance's cgroups live under `isobench-lxc/<name>` in every hierarchy: LXC's container
//! cgroup (`payload`), its monitor's (`monitor`) and the cgroup the monitor moves to when the
//! container ends (`pivot`, which LXC leaves for us to remove). The memory sample reads the
//! parent, whose charge covers all three.
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::cgroup::{CgroupLayout, CgroupMemorySource};
use crate::isolator::Workload;
use crate::probe::PROBE_NAME;

/// Parent of every LXC instance's cgroups, in every hierarchy.
pub const CGROUP_PARENT: &str = "isobench-lxc";

/// The AppArmor profile LXC 5 confines a privileged container with when none is configured.
pub const APPARMOR_PROFILE: &str = "lxc-container-default-cgns";

/// What one instance's config says beyond the fixed lines.
pub struct ConfigInputs<'a> {
    pub name: &'a str,
    pub rootfs: &'a Path,
    pub workload: &'a Workload,
    /// The probe's `--channel` argument (the inherited pipe fds).
    pub channel: &'a str,
    /// The `io` workload's host directory, bound read-write at /tmp.
    pub tmp: Option<&'a Path>,
    /// A user workload's writable tmpfs mounts (absolute paths in the container).
    pub tmpfs_dirs: &'a [&'a str],
}

/// The config `lxc-start -F` runs: the probe as the container's init over the read-only
/// rootfs, no network, no console or ttys, LXC's default namespaces, a cgroup per instance.
pub fn config_text(inputs: &ConfigInputs) -> String {
    let mut text = String::new();
    let mut line = |key: &str, value: &str| {
        let _ = writeln!(text, "{key} = {value}");
    };
    line("lxc.uts.name", "isobench");
    line(
        "lxc.rootfs.path",
        &format!("dir:{}", inputs.rootfs.display()),
    );
    line("lxc.rootfs.options", "ro");
    line("lxc.net.0.type", "empty");
    line("lxc.mount.auto", "proc:mixed");
    line("lxc.autodev", "1");
    line("lxc.console.path", "none");
    line("lxc.tty.max", "0");
    line("lxc.pty.max", "0");
    if let Some(tmp) = inputs.tmp {
        line(
            "lxc.mount.entry",
            &format!("{} tmp none rw,bind,nosuid,nodev 0 0", tmp.display()),
        );
    }
    for dir in inputs.tmpfs_dirs {
        let relative = dir.trim_start_matches('/');
        line(
            "lxc.mount.entry",
            &format!("tmpfs {relative} tmpfs rw,nosuid,nodev,mode=1777 0 0"),
        );
    }
    line(
        "lxc.init.cmd",
        &format!(
            "/{PROBE_NAME} --mode {} --channel {}",
            inputs.workload, inputs.channel
        ),
    );
    line("lxc.init.cwd", "/");
    let dir = instance_cgroup(inputs.name);
    line("lxc.cgroup.dir.container", &format!("{dir}/payload"));
    line("lxc.cgroup.dir.monitor", &format!("{dir}/monitor"));
    line("lxc.cgroup.dir.monitor.pivot", &format!("{dir}/pivot"));
    text
}

/// The instance's cgroup, relative to each hierarchy's root.
pub fn instance_cgroup(name: &str) -> String {
    format!("{CGROUP_PARENT}/{name}")
}

/// Where the memory sample reads the instance's cgroup (v2 directory or v1 memory directory).
pub fn memory_source(layout: &CgroupLayout, name: &str) -> Option<CgroupMemorySource> {
    crate::external::oci::bundle::memory_cgroup(layout, &instance_cgroup(name))
}

/// The instance's cgroup directory in every hierarchy, existing or not.
pub fn every_cgroup_dir(name: &str) -> Vec<PathBuf> {
    crate::external::oci::bundle::all_cgroup_dirs(&instance_cgroup(name))
}

/// The shared parent in every hierarchy where it exists.
pub fn cgroup_parent_dirs() -> Vec<PathBuf> {
    crate::external::oci::bundle::all_cgroup_dirs(CGROUP_PARENT)
        .into_iter()
        .filter(|d| d.is_dir())
        .collect()
}

/// LXC's lock file for container `name` in `lxcpath` (as root: /run/lxc/lock/<lxcpath>/.<name>).
pub fn lock_file(lxcpath: &Path, name: &str) -> PathBuf {
    lock_dir(lxcpath).join(format!(".{name}"))
}

/// LXC's lock directory for `lxcpath`.
pub fn lock_dir(lxcpath: &Path) -> PathBuf {
    let relative = lxcpath.strip_prefix("/").unwrap_or(lxcpath);
    Path::new(LOCK_ROOT).join(relative)
}

/// Where root's LXC keeps its locks.
pub const LOCK_ROOT: &str = "/run/lxc/lock";

/// Why LXC cannot start a container on this host, checked without running it: the cgroup
/// layout (LXC 5 runs on v1, v2 and hybrid, but must create cgroups) and AppArmor.
pub fn host_problem(layout: &CgroupLayout) -> Option<String> {
    cgroup_problem(layout).or_else(|| apparmor_problem(Path::new("/sys")))
}

fn cgroup_problem(layout: &CgroupLayout) -> Option<String> {
    let writable_root = match layout {
        CgroupLayout::Unsupported { reason } => {
            return Some(format!("LXC needs cgroups, and here {reason}"))
        }
        CgroupLayout::Unified { root } => root.clone(),
        CgroupLayout::Legacy { root } | CgroupLayout::Hybrid { root, .. } => root.join("memory"),
    };
    let writable = nix::unistd::access(&writable_root, nix::unistd::AccessFlags::W_OK);
    writable.err().map(|errno| {
        format!(
            "LXC must create cgroups, but {} is not writable ({errno}; isobench in a container?) — run on the host, or mount cgroups read-write",
            writable_root.display()
        )
    })
}

/// With AppArmor enabled, LXC 5 confines the container with [`APPARMOR_PROFILE`] and refuses to
/// start when that profile is not loaded. `sys` is normally /sys.
pub fn apparmor_problem(sys: &Path) -> Option<String> {
    let enabled = apparmor_enabled(sys);
    let profiles = std::fs::read_to_string(sys.join("kernel/security/apparmor/profiles"));
    match (enabled, profiles) {
        (true, Ok(loaded)) if !loaded.lines().any(|l| l.starts_with(APPARMOR_PROFILE)) => {
            Some(format!(
                "AppArmor is enabled but LXC's profile {APPARMOR_PROFILE} is not loaded, so LXC refuses to start containers — run `apparmor_parser -r /etc/apparmor.d/lxc-containers` (packages apparmor, lxc)"
            ))
        }
        _ => None,
    }
}

/// Whether AppArmor is enabled in the kernel (`sys` is normally /sys).
pub fn apparmor_enabled(sys: &Path) -> bool {
    std::fs::read_to_string(sys.join("module/apparmor/parameters/enabled"))
        .is_ok_and(|v| v.trim() == "Y")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_runs_the_probe_read_only_without_network() {
        let workload = "touch:4".parse::<Workload>().unwrap();
        let text = config_text(&ConfigInputs {
            name: "isobench-1-2",
            rootfs: Path::new("/s/rootfs"),
            workload: &workload,
            channel: "fd:5,7",
            tmp: None,
            tmpfs_dirs: &[],
        });
        for expected in [
            "lxc.rootfs.path = dir:/s/rootfs\n",
            "lxc.rootfs.options = ro\n",
            "lxc.net.0.type = empty\n",
            "lxc.init.cmd = /isobench-probe --mode touch:4 --channel fd:5,7\n",
            "lxc.cgroup.dir.container = isobench-lxc/isobench-1-2/payload\n",
            "lxc.cgroup.dir.monitor.pivot = isobench-lxc/isobench-1-2/pivot\n",
        ] {
            assert!(text.contains(expected), "{expected:?} not in:\n{text}");
        }
        assert!(!text.contains("lxc.mount.entry"));
    }

    #[test]
    fn lock_file_follows_the_lxcpath() {
        assert_eq!(
            lock_file(Path::new("/tmp/x/lxc"), "c1"),
            PathBuf::from("/run/lxc/lock/tmp/x/lxc/.c1")
        );
    }

    #[test]
    fn apparmor_without_lxc_profile_is_named() {
        let sys = tempfile::tempdir().unwrap();
        let module = sys.path().join("module/apparmor/parameters");
        let security = sys.path().join("kernel/security/apparmor");
        std::fs::create_dir_all(&module).unwrap();
        std::fs::create_dir_all(&security).unwrap();
        std::fs::write(module.join("enabled"), "Y\n").unwrap();
        std::fs::write(security.join("profiles"), "docker-default (enforce)\n").unwrap();
        let problem = apparmor_problem(sys.path()).unwrap();
        assert!(problem.contains("apparmor_parser"), "{problem}");
        std::fs::write(
            security.join("profiles"),
            "lxc-container-default-cgns (enforce)\n",
        )
        .unwrap();
        assert_eq!(apparmor_problem(sys.path()), None);
        std::fs::write(module.join("enabled"), "N\n").unwrap();
        std::fs::write(security.join("profiles"), "").unwrap();
        assert_eq!(apparmor_problem(sys.path()), None);
    }
}
