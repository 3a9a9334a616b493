//! The template mount namespace: the rootfs bound read-only, pivoted into, with a read-only
//! /dev, built once per prepared rootfs and held open; each launch copies it (setns, then
//! unshare CLONE_NEWNS) and mounts only its own /proc on top.
//!
//! A copy of a three-mount namespace replaces, per launch: copying the host's whole mount
//! table, making it private, the bind and its read-only remount, the /dev tmpfs with six nodes
//! and four links, pivot_root and detaching the host's tree. The instance still gets its own
//! mount namespace whose root is the read-only rootfs and whose /proc is its own.
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use super::child::{check, ChildSetup, Step};
use super::clone::{clone_vfork, hint, ChildStack};
use super::mounts;
use crate::Error;

/// An open handle on the template namespace; it lives as long as this value.
pub(super) struct MountTemplate {
    namespace: OwnedFd,
}

/// What the builder child reads and writes (it shares our memory and descriptor table).
struct BuildRun<'a> {
    setup: &'a ChildSetup,
    namespace_fd: RawFd,
    failed_step: Option<&'static str>,
    errno: i32,
}

impl MountTemplate {
    /// Builds the template in a short-lived child (CLONE_NEWNS, sharing our descriptor table so
    /// the namespace descriptor it opens is ours) and keeps the namespace open.
    pub(super) fn build(setup: &ChildSetup, stack: &mut ChildStack) -> Result<Self, Error> {
        let mut run = BuildRun {
            setup,
            namespace_fd: -1,
            failed_step: None,
            errno: 0,
        };
        let flags = (libc::CLONE_NEWNS | libc::CLONE_FILES) as u64;
        let entry = build_main as extern "C" fn(*mut BuildRun) -> !;
        // SAFETY: build_main only makes system calls on `run` and what it points to (kept alive
        // by this frame), and always exits.
        let spawned = unsafe { clone_vfork(stack, flags, None, entry, &mut run) };
        let pid = spawned.map_err(|errno| {
            Error::sys(
                format!("clone3 of the mount template's builder{}", hint(errno)),
                errno,
            )
        })?;
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
        if let Some(step) = run.failed_step {
            let errno = nix::errno::Errno::from_raw(run.errno);
            return Err(Error::sys(
                format!("building the container's mount template failed at \"{step}\""),
                errno,
            ));
        }
        // SAFETY: the builder opened this descriptor in the table we share and nothing else
        // owns it.
        let namespace = unsafe { OwnedFd::from_raw_fd(run.namespace_fd) };
        Ok(MountTemplate { namespace })
    }

    /// The namespace's descriptor, for the launch child's setns.
    pub(super) fn fd(&self) -> RawFd {
        use std::os::fd::AsRawFd;
        self.namespace.as_raw_fd()
    }
}

extern "C" fn build_main(run: *mut BuildRun) -> ! {
    // SAFETY: the parent passes a valid BuildRun and stays suspended (CLONE_VFORK) until we exit.
    let run = unsafe { &mut *run };
    match build(run.setup) {
        Ok(fd) => run.namespace_fd = fd,
        Err((step, errno)) => {
            run.failed_step = Some(step);
            run.errno = errno;
        }
    }
    // SAFETY: _exit ends only this child and never returns.
    unsafe { libc::_exit(0) }
}

fn build(setup: &ChildSetup) -> Result<RawFd, (&'static str, i32)> {
    // Opened first: after the pivot there is no /proc. The namespace is the one clone made.
    // SAFETY: a valid C string; the descriptor lands in the table we share with the parent.
    let fd = unsafe {
        libc::open(
            c"/proc/self/ns/mnt".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    check(fd.into(), "open the template's mount namespace")?;
    let shared_dev = !setup.dev_per_instance();
    let built = mounts::pivot_into_rootfs(setup, || -> Step {
        if shared_dev {
            mounts::mount_dev(setup, true)?;
        }
        Ok(())
    });
    if let Err(failure) = built {
        // SAFETY: our descriptor; the parent never learns of it on failure.
        unsafe { libc::close(fd) };
        return Err(failure);
    }
    Ok(fd)
}
