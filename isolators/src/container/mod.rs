//! The native container launcher: namespaces, one cgroup per instance, a read-only root.
//!
//! One `clone3` creates the probe's process directly as PID 1 of a new pid namespace, inside
//! its cgroup on v2 (CLONE_INTO_CGROUP). Once inside, it unshares the net, uts, ipc and cgroup
//! namespaces (plus a user namespace when not root), so their kernel memory is the instance's.
//! Its mount namespace is a copy of a template ([`template`]): the rootfs bound read-only and
//! pivoted into once per prepared rootfs, with a read-only /dev; the instance mounts its own
//! /proc on it. (Rootless, where the template's namespace belongs to another user namespace,
//! each launch builds the same table itself: bind, remount, /dev, pivot_root.) It borrows the
//! harness's memory until it execs (CLONE_VM | CLONE_VFORK) and execs `/isobench-probe`: no
//! intermediate process, no second exec, no daemon. An `io` instance also gets its own host
//! directory, mounted read-write at /tmp and removed at teardown ([`crate::io_dir`]).
//!
//! Phases: `cgroup` (made), `clone` (the child runs), `namespaces` (unshared), `mounts`
//! (mount table, hostname, loopback up), `exec` (the probe replaced the child), then ready.
mod child;
mod clone;
mod launch;
mod mounts;
mod template;

use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::Arc;

use crate::cgroup::spawn::Home;
use crate::cgroup::{CgroupLayout, CgroupPlan, Creator};
use crate::host::Host;
use crate::io_dir::IoDirs;
use crate::isolator::{
    Availability, Description, DiskFootprint, Isolator, KernelKind, Kind, Launcher, Workload,
};
use crate::probe::PROBE_NAME;
use crate::user_workload::UserWorkload;
use crate::Error;
use child::ChildSetup;
use clone::ChildStack;
use template::MountTemplate;

/// The namespaces every instance gets (the user namespace is added when not root).
const NAMESPACES: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWNET) as u64;

/// What clone itself must create when the instance has a cgroup: a pid namespace takes effect
/// only for children, so it comes with the clone. The child creates the rest with `unshare`
/// once it is inside its cgroup, so their kernel memory (a network namespace is most of a
/// container's) is charged to the instance, not to the harness.
const NAMESPACES_AT_CLONE: u64 = libc::CLONE_NEWPID as u64;

/// clone3 with CLONE_CLEAR_SIGHAND came in Linux 5.5, CLONE_INTO_CGROUP in 5.7.
const MIN_KERNEL: (u32, u32) = (5, 7);

/// (major, minor) of a kernel release string such as "6.1.0-18-amd64".
fn parse_kernel_release(release: &str) -> Option<(u32, u32)> {
    let mut numbers = release.split(|c: char| !c.is_ascii_digit());
    Some((numbers.next()?.parse().ok()?, numbers.next()?.parse().ok()?))
}

/// isobench's own container launcher.
pub struct ContainerIsolator {
    creator: Creator,
    plan: CgroupPlan,
    /// The user's rootfs and command (`--rootfs`): pivots into its copy instead of the probe's.
    user: Option<Arc<UserWorkload>>,
}

/// What `prepare` makes once and every launch reuses. Dropping it removes the instance
/// cgroups' parents it created.
pub struct ContainerLauncher {
    /// The plan, downgraded to `Unavailable` when its parents could not be made.
    plan: CgroupPlan,
    /// v1: our own cgroups, for the launching thread to return to after clone.
    home: Option<Arc<Home>>,
    disk: DiskFootprint,
    setup: ChildSetup,
    /// The read-only root every launch copies (root only: a rootless launch builds its mount
    /// table itself, inside its own user namespace).
    template: Option<MountTemplate>,
    stack: ChildStack,
    mode: CString,
    /// Host /dev/null, the probe's stdin.
    dev_null: OwnedFd,
    /// The probe's stderr, beside the rootfs (see [`crate::probe::PROBE_STDERR_LOG`]).
    stderr_log: OwnedFd,
    /// Where `io` instances get their directories; `None` for other workloads.
    io_dirs: Option<IoDirs>,
    /// The probe supervises the user's command: its processes are the probe's descendants.
    supervises: bool,
}

impl Default for ContainerIsolator {
    fn default() -> Self {
        ContainerIsolator::new()
    }
}

impl ContainerIsolator {
    /// Uses the host's cgroup layout.
    pub fn new() -> ContainerIsolator {
        ContainerIsolator::with_cgroup_layout(&CgroupLayout::detect())
    }

    /// Uses `layout` for instance cgroups, e.g. `Unified` at a hybrid host's cgroup2 mount to
    /// exercise the v2 path (clone into cgroup, cgroup.kill) where v1 holds the controllers.
    pub fn with_cgroup_layout(layout: &CgroupLayout) -> ContainerIsolator {
        ContainerIsolator {
            creator: Creator::current(),
            plan: CgroupPlan::detect(layout),
            user: None,
        }
    }

    /// Runs the user's workload (`--rootfs`, `--cmd`, `--ready`) when `user` is Some.
    pub fn with_user(mut self, user: Option<Arc<UserWorkload>>) -> ContainerIsolator {
        self.user = user;
        self
    }

    /// Where instance cgroups go, or why there are none.
    pub fn cgroup_plan(&self) -> &CgroupPlan {
        &self.plan
    }

    /// Prepares launches from an existing rootfs that holds `/isobench-probe` and empty `proc`
    /// and `dev` directories (what [`crate::instance_rootfs::write`] makes). [`Isolator::prepare`] calls this.
    /// An `io` workload's instance directories go into `io` beside the rootfs.
    pub fn prepare_rootfs(
        &self,
        rootfs: &Path,
        workload: &Workload,
    ) -> Result<ContainerLauncher, Error> {
        if !rootfs.join(PROBE_NAME).is_file() {
            return Err(Error::BadInput(format!(
                "{}: no {PROBE_NAME} in this rootfs — build it with probe::write_rootfs",
                rootfs.display()
            )));
        }
        // The launcher is code inside isobench itself: its runtime is the running executable.
        let exe =
            std::env::current_exe().map_err(|e| Error::io("locate the isobench executable", e))?;
        let user = self.user.as_deref();
        let disk = crate::instance_rootfs::disk(&[exe], rootfs, &[], user)?;
        let mut plan = self.plan.clone();
        if let Err(error) = plan.ensure_parents() {
            plan = CgroupPlan::Unavailable {
                reason: error.to_string(),
            };
        }
        // Without a way home (our own cgroup not writable to us) the child joins by itself.
        let home = plan.home().ok().flatten();
        let rootless = match self.creator {
            Creator::Root => None,
            Creator::User { uid } => Some((uid, nix::unistd::getegid().as_raw())),
        };
        let dev_null =
            std::fs::File::open("/dev/null").map_err(|e| Error::io("open /dev/null", e))?;
        let beside = rootfs.parent().unwrap_or(rootfs);
        let stderr_log = crate::probe::open_stderr_log(beside)?;
        let io_dirs = IoDirs::for_workload(workload, beside)?;
        let io_parent = io_dirs.as_ref().map(IoDirs::parent);
        let setup = ChildSetup::new(
            rootfs,
            PROBE_NAME,
            rootless,
            io_parent,
            crate::instance_rootfs::tmpfs_dirs(user),
        )?;
        let mut stack = ChildStack::new()?;
        let template = match setup.rootless() {
            true => None,
            false => Some(MountTemplate::build(&setup, &mut stack)?),
        };
        let launcher = ContainerLauncher {
            plan,
            home,
            disk,
            setup,
            template,
            stack,
            mode: CString::new(workload.to_string()).expect("a workload prints without NUL"),
            dev_null: dev_null.into(),
            stderr_log: stderr_log.into(),
            io_dirs,
            supervises: user.is_some(),
        };
        Ok(launcher)
    }
}

impl ContainerLauncher {
    /// Where this launcher's instance cgroups go, or why there are none.
    pub fn cgroup_plan(&self) -> &CgroupPlan {
        &self.plan
    }
}

impl Drop for ContainerLauncher {
    fn drop(&mut self) {
        self.plan.remove_parents();
    }
}

impl Isolator for ContainerIsolator {
    fn name(&self) -> &str {
        "container"
    }
    fn kind(&self) -> Kind {
        Kind::Container
    }
    fn describe(&self) -> Description {
        let mut boundary = "shared kernel + 6 namespaces (mnt,pid,uts,ipc,net,cgroup)".to_string();
        let mut notes = Vec::new();
        if let Creator::User { uid } = self.creator {
            boundary.push_str(" + user namespace");
            notes.push(format!("rootless: root in the container is uid {uid} on the host; /dev nodes bind-mounted from the host"));
        }
        match &self.plan {
            CgroupPlan::V2 {
                parent,
                controllers,
            } => {
                boundary.push_str(" + cgroup2");
                if !controllers.iter().any(|c| c == "memory") {
                    notes.push(format!(
                        "cgroup2 at {} offers no memory controller: memory from PSS only",
                        parent.display()
                    ));
                }
            }
            // Where the instance cgroups go is information, not a deviation: not a note.
            CgroupPlan::V1 { .. } => boundary.push_str(" + cgroup v1"),
            CgroupPlan::Unavailable { reason } => notes.push(format!("no cgroup: {reason}")),
        }
        boundary.push_str(" + pivot_root");
        Description {
            boundary,
            kernel: KernelKind::Shared,
            version: format!("isobench {}", env!("CARGO_PKG_VERSION")),
            notes,
        }
    }
    fn availability(&self, host: &Host) -> Availability {
        if let Some(refusal) = crate::instance_rootfs::host_root_refusal(self.user.as_deref()) {
            return refusal;
        }
        let release = nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default();
        if parse_kernel_release(&release).is_some_and(|version| version < MIN_KERNEL) {
            return Availability::unavailable(format!(
                "Linux {release} lacks clone3 with CLONE_INTO_CGROUP — needs Linux {}.{} or newer",
                MIN_KERNEL.0, MIN_KERNEL.1
            ));
        }
        if let CgroupLayout::Unsupported { reason } = &host.cgroup {
            return Availability::unavailable(reason.clone());
        }
        if !host.is_root && !host.user_namespaces {
            let limit =
                std::fs::read_to_string("/proc/sys/user/max_user_namespaces").unwrap_or_default();
            let why = match limit.trim() {
                "0" => "user namespaces are disabled (sysctl user.max_user_namespaces=0)".to_string(),
                _ => "the kernel refuses this user a user namespace (check sysctl kernel.unprivileged_userns_clone and AppArmor's userns restriction)".to_string(),
            };
            return Availability::unavailable(format!(
                "not root and {why} — run as root or enable them"
            ));
        }
        Availability::Available
    }
    fn prepare(&self, workload: &Workload, scratch: &Path) -> Result<Box<dyn Launcher>, Error> {
        let rootfs = crate::instance_rootfs::write(self.user.as_deref(), scratch)?;
        Ok(Box::new(self.prepare_rootfs(&rootfs, workload)?))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_kernel_release;

    #[test]
    fn parses_kernel_releases() {
        assert_eq!(parse_kernel_release("6.18.44-fc-v782"), Some((6, 18)));
        assert_eq!(parse_kernel_release("5.4.0-150-generic"), Some((5, 4)));
        assert!(parse_kernel_release("5.4.0").unwrap() < super::MIN_KERNEL);
        assert_eq!(parse_kernel_release("weird"), None);
    }
}
