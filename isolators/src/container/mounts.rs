//! The container's mount table: the pivot into the read-only rootfs (made once per prepared
//! rootfs in a template mount namespace, or per launch when rootless), and what every launch
//! mounts on top: its own /proc, a user workload's tmpfs dirs and /dev, an `io` dir on /tmp.
//!
//! Everything here runs in a child that shares the harness's memory (CLONE_VM) until it execs:
//! raw system calls on data prepared beforehand, no allocation, no locks, no panics. Paths
//! inside the rootfs are relative ("proc", "dev/null"): they resolve against the rootfs while
//! the child stands in it before the pivot, and against the new root after it.
use std::ffi::{c_ulong, CStr};
use std::os::fd::RawFd;

use super::child::{check, ChildSetup, Step};

pub(super) fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: c_ulong,
    data: Option<&CStr>,
    step: &'static str,
) -> Step {
    let ptr = |s: Option<&CStr>| s.map_or(std::ptr::null(), CStr::as_ptr);
    // SAFETY: every pointer is NULL or a valid C string that outlives the call.
    let ret = unsafe {
        libc::mount(
            ptr(source),
            target.as_ptr(),
            ptr(fstype),
            flags,
            ptr(data).cast(),
        )
    };
    check(ret.into(), step)
}

/// In a new mount namespace: private propagation, a read-only bind of the rootfs, `with_root`
/// (mounts made inside the rootfs while standing in it), pivot_root, the old root detached.
/// The template does this once per prepared rootfs; a rootless launch does it every time.
pub(super) fn pivot_into_rootfs(setup: &ChildSetup, with_root: impl FnOnce() -> Step) -> Step {
    mount(
        None,
        c"/",
        None,
        libc::MS_REC | libc::MS_PRIVATE,
        None,
        "make / private",
    )?;
    mount(
        Some(&setup.rootfs),
        &setup.rootfs,
        None,
        libc::MS_BIND,
        None,
        "bind the rootfs",
    )?;
    // From here relative paths resolve inside the bind just made.
    // SAFETY: chdir reads a valid C string.
    let ret = unsafe { libc::chdir(setup.rootfs.as_ptr()) };
    check(ret.into(), "chdir into the rootfs")?;
    mount(
        None,
        &setup.rootfs,
        None,
        setup.remount_flags,
        None,
        "remount the rootfs read-only",
    )?;
    with_root()?;
    // SAFETY: pivot_root(".", ".") stacks the old root on the new one; detaching "." then drops
    // it with no directory left behind.
    unsafe {
        check(
            libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()),
            "pivot_root",
        )?;
        check(
            libc::umount2(c".".as_ptr(), libc::MNT_DETACH).into(),
            "detach the old root",
        )?;
        check(libc::chdir(c"/".as_ptr()).into(), "chdir /")?;
    }
    Ok(())
}

/// A launch from the template: a private copy of its mount namespace (the rootfs, read-only,
/// and /dev), in which this instance mounts its own /proc and what its workload needs.
pub(super) fn enter_template(
    setup: &ChildSetup,
    template_fd: RawFd,
    io_tree_fd: Option<RawFd>,
) -> Step {
    // SAFETY: template_fd is the template's open mount namespace; setns also moves our root
    // and working directory to that namespace's root.
    let ret = unsafe { libc::setns(template_fd, libc::CLONE_NEWNS) };
    check(ret.into(), "enter the template mount namespace")?;
    // SAFETY: unshare takes flags only: a private copy of the template's few mounts.
    let ret = unsafe { libc::unshare(libc::CLONE_NEWNS) };
    check(ret.into(), "copy the template mount namespace")?;
    if let Some(tree) = io_tree_fd {
        attach_io_tree(setup, tree)?;
    }
    instance_mounts(setup, false)
}

/// The launch-time half of the mount table, relative to a cwd at the rootfs's top: /tmp for
/// an `io` dir bound the classic way (`io_dir`), a user workload's tmpfs dirs and /dev, /proc.
/// `with_dev`: also mount /dev here (the template's /dev is used otherwise).
pub(super) fn instance_mounts(setup: &ChildSetup, with_dev: bool) -> Step {
    for (dir, data) in &setup.tmpfs_dirs {
        let flags = libc::MS_NOSUID | libc::MS_NODEV;
        mount(
            Some(c"tmpfs"),
            dir,
            Some(c"tmpfs"),
            flags,
            Some(data),
            "mount a tmpfs",
        )?;
    }
    let hidden = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    mount(
        Some(c"proc"),
        c"proc",
        Some(c"proc"),
        hidden,
        None,
        "mount /proc",
    )?;
    if with_dev || setup.dev_per_instance() {
        mount_dev(setup, false)?;
    }
    Ok(())
}

/// The classic bind of an `io` instance's host directory on the rootfs's /tmp (the rootless
/// path: the host tree is still there to bind from).
pub(super) fn bind_io_dir(setup: &ChildSetup, io_dir: &CStr) -> Step {
    mount(Some(io_dir), c"tmp", None, libc::MS_BIND, None, "bind /tmp")?;
    let flags = setup.tmp_remount_flags;
    mount(None, c"tmp", None, flags, None, "remount /tmp nosuid,nodev")
}

/// Clones the `io` instance's directory as a detached mount while the child still sees the
/// host's tree (before it enters the template). Returns the mount's descriptor.
pub(super) fn open_io_tree(io_dir: &CStr) -> Result<RawFd, (&'static str, i32)> {
    let flags = libc::OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    // SAFETY: open_tree reads a valid C path and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, io_dir.as_ptr(), flags) };
    check(fd, "clone the io directory's mount (open_tree)")?;
    Ok(fd as RawFd)
}

/// Attaches the detached `io` mount on /tmp, nosuid and nodev, and closes its descriptor.
fn attach_io_tree(setup: &ChildSetup, tree: RawFd) -> Step {
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
    // SAFETY: tree is the detached mount open_tree returned; "" with F_EMPTY_PATH means the
    // descriptor itself; the target is a valid C string relative to our cwd (the new root).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree,
            c"".as_ptr(),
            libc::AT_FDCWD,
            c"tmp".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    // SAFETY: our own descriptor, no longer needed once attached (or on failure).
    unsafe { libc::close(tree) };
    check(ret, "attach the io directory on /tmp (move_mount)")?;
    let flags = setup.tmp_remount_flags;
    mount(None, c"tmp", None, flags, None, "remount /tmp nosuid,nodev")
}

/// A tmpfs on "dev" with the device nodes and links the probe (or a user's command) expects.
/// `read_only`: remount it read-only afterwards (the template's /dev, shared by its copies).
pub(super) fn mount_dev(setup: &ChildSetup, read_only: bool) -> Step {
    let flags = libc::MS_NOSUID | libc::MS_NOEXEC;
    let dev_data = c"mode=755,size=64k";
    mount(
        Some(c"tmpfs"),
        c"dev",
        Some(c"tmpfs"),
        flags,
        Some(dev_data),
        "mount /dev",
    )?;
    make_devices(setup)?;
    if read_only {
        let flags = flags | libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY;
        mount(None, c"dev", None, flags, None, "remount /dev read-only")?;
    }
    Ok(())
}

fn make_devices(setup: &ChildSetup) -> Step {
    // SAFETY: umask only swaps the file-creation mask; restored below.
    let old_mask = unsafe { libc::umask(0) };
    for node in &setup.dev_nodes {
        if setup.bind_devices {
            // SAFETY: valid C string; creates an empty file to bind the host node onto.
            let fd = unsafe {
                libc::open(
                    node.path.as_ptr(),
                    libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                    0o666,
                )
            };
            check(fd.into(), "create a /dev node")?;
            // SAFETY: fd was just opened by us.
            unsafe { libc::close(fd) };
            mount(
                Some(&node.host),
                &node.path,
                None,
                libc::MS_BIND,
                None,
                "bind a /dev node",
            )?;
        } else {
            // SAFETY: valid C string; mknod creates a character device in our tmpfs.
            let ret = unsafe { libc::mknod(node.path.as_ptr(), libc::S_IFCHR | 0o666, node.rdev) };
            check(ret.into(), "mknod in /dev")?;
        }
    }
    for (target, link) in &setup.dev_links {
        // SAFETY: both are valid C strings.
        let ret = unsafe { libc::symlink(target.as_ptr(), link.as_ptr()) };
        check(ret.into(), "symlink in /dev")?;
    }
    // SAFETY: restores the mask the probe inherits.
    unsafe { libc::umask(old_mask) };
    Ok(())
}
