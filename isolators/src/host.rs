//! What isolators need to know about the host to decide whether they can run, and where its
//! programs are ([`which`]).
use crate::cgroup::CgroupLayout;
use crate::kvm::KvmAccess;

/// Facts about the host that decide availability; detected once per run.
#[derive(Debug, Clone)]
pub struct Host {
    pub is_root: bool,
    /// Whether this user may create a user namespace (tested by doing it, in a child).
    pub user_namespaces: bool,
    pub cgroup: CgroupLayout,
    pub kvm: KvmAccess,
}

impl Host {
    pub fn detect() -> Host {
        Host {
            is_root: nix::unistd::geteuid().is_root(),
            user_namespaces: user_namespaces_allowed(),
            cgroup: CgroupLayout::detect(),
            kvm: KvmAccess::detect(),
        }
    }
}

/// Tries `unshare(CLONE_NEWUSER)` in a short-lived child so the caller's namespaces stay put.
fn user_namespaces_allowed() -> bool {
    use nix::sched::{unshare, CloneFlags};
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, ForkResult};
    // SAFETY: the child only calls async-signal-safe unshare and _exit.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            let code = if unshare(CloneFlags::CLONE_NEWUSER).is_ok() {
                0
            } else {
                1
            };
            // SAFETY: _exit is async-signal-safe and skips the parent's atexit handlers.
            unsafe { libc::_exit(code) }
        }
        Ok(ForkResult::Parent { child }) => {
            matches!(waitpid(child, None), Ok(WaitStatus::Exited(_, 0)))
        }
        Err(_) => false,
    }
}

/// Looks `program` up on PATH: the first executable file of that name.
pub fn which(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}
