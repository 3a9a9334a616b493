//! What runs in the container's first process between clone and exec: user maps, cgroup join,
//! namespaces, its mount table ([`super::mounts`]), hostname, loopback, execve of the probe.
//!
//! An `io` instance's own host directory is mounted read-write (nosuid, nodev) on /tmp; other
//! workloads get no such mount.
//!
//! The child shares the harness's memory (CLONE_VM) until it execs, so it only reads data the
//! parent prepared and makes raw system calls: no allocation, no locks, no panics.
use std::ffi::{c_char, c_ulong, CStr, CString};
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::mounts;
use crate::Error;

/// A device node in the container's /dev: created with mknod as root, bind-mounted from the
/// host inside a user namespace (where mknod is not allowed).
pub(super) struct DevNode {
    /// Relative to the rootfs: "dev/null".
    pub path: CString,
    pub host: CString,
    pub rdev: libc::dev_t,
}

/// What every launch of one prepared rootfs needs; built once, in `prepare`. Paths inside the
/// rootfs are relative to it (see [`super::mounts`]).
pub(super) struct ChildSetup {
    /// The rootfs on the host, absolute.
    pub rootfs: CString,
    pub dev_nodes: Vec<DevNode>,
    /// (target, link path) symlinks in /dev: fd, stdin, stdout, stderr.
    pub dev_links: Vec<(CString, CString)>,
    /// Flags for the read-only remount of the rootfs bind, including the flags the kernel locks
    /// on it inside a user namespace (nosuid, nodev, noexec of the mount it came from).
    pub remount_flags: c_ulong,
    /// Flags for the nosuid,nodev remount of an `io` instance's /tmp, plus those locked on the
    /// instance directories' mount.
    pub tmp_remount_flags: c_ulong,
    /// A user workload's writable tmpfs mounts (path in the rootfs, mount data), made on the
    /// read-only root ([`crate::instance_rootfs::USER_TMPFS_DIRS`]).
    pub tmpfs_dirs: Vec<(CString, &'static CStr)>,
    /// Rootless: (uid_map, gid_map) lines mapping root in the new user namespace to us.
    user_maps: Option<(CString, CString)>,
    /// Bind-mount /dev nodes from the host instead of mknod: in any user namespace but the
    /// initial one (rootless, or "root" inside someone else's container) mknod is refused.
    pub bind_devices: bool,
    probe: CString,
    hostname: &'static CStr,
}

const DEVICES: [(&str, u32, u32); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];
const DEV_LINKS: [(&str, &str); 4] = [
    ("/proc/self/fd", "fd"),
    ("/proc/self/fd/0", "stdin"),
    ("/proc/self/fd/1", "stdout"),
    ("/proc/self/fd/2", "stderr"),
];

fn c_path(path: &Path) -> Result<CString, Error> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::BadInput(format!("{}: NUL byte in path", path.display())))
}

impl ChildSetup {
    /// `rootless`: Some((uid, gid)) to map root in a new user namespace to that user.
    /// `io_dirs`: where instance directories for the `io` workload are made, if any.
    /// `tmpfs_dirs`: absolute paths inside the rootfs that get an empty writable tmpfs.
    pub(super) fn new(
        rootfs: &Path,
        probe_name: &str,
        rootless: Option<(u32, u32)>,
        io_dirs: Option<&Path>,
        tmpfs_dirs: &[&str],
    ) -> Result<ChildSetup, Error> {
        let remount = libc::MS_BIND | libc::MS_REMOUNT;
        let tmp_locked = io_dirs.map_or(Ok(0), locked_flags)?;
        let relative = |path: &str| c_path(Path::new(path));
        Ok(ChildSetup {
            rootfs: c_path(rootfs)?,
            remount_flags: remount | libc::MS_RDONLY | locked_flags(rootfs)?,
            tmp_remount_flags: remount | libc::MS_NOSUID | libc::MS_NODEV | tmp_locked,
            tmpfs_dirs: tmpfs_dirs
                .iter()
                .map(|dir| {
                    let data = if *dir == "/tmp" {
                        c"mode=1777"
                    } else {
                        c"mode=755"
                    };
                    Ok((relative(dir.trim_start_matches('/'))?, data))
                })
                .collect::<Result<_, Error>>()?,
            dev_nodes: DEVICES
                .iter()
                .map(|&(name, major, minor)| {
                    Ok(DevNode {
                        path: relative(&format!("dev/{name}"))?,
                        host: c_path(&Path::new("/dev").join(name))?,
                        rdev: libc::makedev(major, minor),
                    })
                })
                .collect::<Result<_, Error>>()?,
            dev_links: DEV_LINKS
                .iter()
                .map(|&(target, name)| {
                    Ok((
                        c_path(Path::new(target))?,
                        relative(&format!("dev/{name}"))?,
                    ))
                })
                .collect::<Result<_, Error>>()?,
            user_maps: rootless.map(|(uid, gid)| {
                let map_root_to =
                    |id: u32| CString::new(format!("0 {id} 1\n")).expect("digits have no NUL");
                (map_root_to(uid), map_root_to(gid))
            }),
            bind_devices: rootless.is_some() || !in_initial_user_namespace(),
            probe: c_path(&Path::new("/").join(probe_name))?,
            hostname: c"isobench",
        })
    }

    /// Each instance mounts its own writable /dev when it runs a user's command (which gets
    /// tmpfs dirs, and may write in /dev too); else the template's read-only /dev serves all.
    pub(super) fn dev_per_instance(&self) -> bool {
        !self.tmpfs_dirs.is_empty()
    }

    pub(super) fn rootless(&self) -> bool {
        self.user_maps.is_some()
    }
}

/// The flags of the mount holding `path` that a bind of it keeps, and that a remount inside a
/// user namespace must repeat (the kernel locks them): read-only, nosuid, nodev, noexec.
fn locked_flags(path: &Path) -> Result<c_ulong, Error> {
    let stat = nix::sys::statvfs::statvfs(path)
        .map_err(|e| Error::sys(format!("statvfs {}", path.display()), e))?;
    Ok([
        (libc::ST_RDONLY, libc::MS_RDONLY),
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
    ]
    .iter()
    .filter(|(st, _)| stat.flags().bits() & st != 0)
    .fold(0, |flags, (_, ms)| flags | ms))
}

/// True when this process's user namespace is the host's (uid_map maps all 2^32 ids 1:1).
fn in_initial_user_namespace() -> bool {
    std::fs::read_to_string("/proc/self/uid_map")
        .is_ok_and(|map| map.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"])
}

/// One launch: the setup plus this instance's argv and cgroup, and what the child reports back
/// through the shared memory.
pub(super) struct ChildRun<'a> {
    pub setup: &'a ChildSetup,
    /// NULL-terminated argv for the probe.
    pub argv: &'a [*const c_char],
    /// v1 `tasks` descriptors to join by writing "0" (see [`crate::cgroup::InstanceCgroup`]).
    pub join_fds: &'a [RawFd],
    /// Namespaces to unshare once inside the cgroup (0: clone made them all).
    pub unshare_flags: libc::c_int,
    /// The template mount namespace to copy (root); `None`: the child builds its mount table
    /// itself (rootless), having unshared CLONE_NEWNS with the rest.
    pub template_fd: Option<RawFd>,
    /// Host /dev/null, to become the probe's stdin.
    pub stdin_fd: RawFd,
    /// The scratch dir's probe-stderr.log, to become the probe's stderr.
    pub stderr_fd: RawFd,
    /// The instance's own host directory for the `io` workload, bound at /tmp.
    pub io_dir: Option<&'a CStr>,
    /// Written by the child: CLOCK_MONOTONIC when it started, when its namespaces were made,
    /// and when its mounts, hostname and loopback were done.
    pub started_ns: u64,
    pub unshared_ns: u64,
    pub mounted_ns: u64,
    /// Written by the child when a step fails, just before it exits.
    pub failed_step: Option<&'static str>,
    pub errno: i32,
}

fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we pass; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

pub(super) type Step = Result<(), (&'static str, i32)>;

/// Maps a -1 return to the failed step and errno.
pub(super) fn check(ret: libc::c_long, step: &'static str) -> Step {
    if ret < 0 {
        Err((step, nix::errno::Errno::last_raw()))
    } else {
        Ok(())
    }
}

/// Entry point of the cloned child, on its own small stack. Never returns: execs or exits.
pub(super) extern "C" fn child_main(run: *mut ChildRun) -> ! {
    // SAFETY: the parent passes a valid ChildRun and stays suspended (CLONE_VFORK) until we
    // exec or exit, so nothing else touches it meanwhile.
    let run = unsafe { &mut *run };
    run.started_ns = now_ns();
    let Err((step, errno)) = set_up_and_exec(run);
    run.failed_step = Some(step);
    run.errno = errno;
    // SAFETY: _exit is exit_group: it ends only this child (its own thread group), runs no
    // atexit handlers of the parent, and never returns.
    unsafe { libc::_exit(127) }
}

fn set_up_and_exec(run: &mut ChildRun) -> Result<std::convert::Infallible, (&'static str, i32)> {
    let setup = run.setup;
    if let Some((uid_map, gid_map)) = &setup.user_maps {
        write_file(
            c"/proc/self/setgroups",
            c"deny",
            "write /proc/self/setgroups",
        )?;
        write_file(c"/proc/self/uid_map", uid_map, "write /proc/self/uid_map")?;
        write_file(c"/proc/self/gid_map", gid_map, "write /proc/self/gid_map")?;
    }
    for &fd in run.join_fds {
        // SAFETY: fd is an open `tasks` descriptor the parent handed us; "0" means "me".
        let ret = unsafe { libc::write(fd, c"0".as_ptr().cast(), 1) };
        check(ret as libc::c_long, "join the v1 cgroup")?;
    }
    // An `io` dir is cloned while the host's tree is still in view.
    let io_dir = run.io_dir;
    let io_tree = match (run.template_fd, io_dir) {
        (Some(_), Some(io_dir)) => Some(mounts::open_io_tree(io_dir)?),
        _ => None,
    };
    if run.unshare_flags != 0 {
        // SAFETY: unshare takes flags only.
        let ret = unsafe { libc::unshare(run.unshare_flags) };
        check(ret.into(), "unshare the namespaces inside the cgroup")?;
    }
    run.unshared_ns = now_ns();
    match run.template_fd {
        Some(template) => mounts::enter_template(setup, template, io_tree)?,
        None => mounts::pivot_into_rootfs(setup, || {
            if let Some(io_dir) = io_dir {
                mounts::bind_io_dir(setup, io_dir)?;
            }
            mounts::instance_mounts(setup, true)
        })?,
    }
    let name = setup.hostname.to_bytes();
    // SAFETY: sethostname reads len bytes from a valid buffer.
    let ret = unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) };
    check(ret.into(), "sethostname")?;
    loopback_up()?;
    run.mounted_ns = now_ns();
    // Its own process group, like the process baseline: a terminal's Ctrl-C reaches only the
    // harness (as PID 1 of its pid namespace the probe would ignore it anyway).
    // SAFETY: setpgid takes two pids; 0, 0 means "this process leads a new group".
    let ret = unsafe { libc::setpgid(0, 0) };
    check(ret.into(), "setpgid")?;
    // SAFETY: dup2 onto 0 of a descriptor we hold; the result is not close-on-exec.
    let ret = unsafe { libc::dup2(run.stdin_fd, 0) };
    check(ret.into(), "dup2 /dev/null to stdin")?;
    // SAFETY: as above, onto 2: the probe's stderr goes to the log the harness labels.
    let ret = unsafe { libc::dup2(run.stderr_fd, 2) };
    check(ret.into(), "dup2 the stderr log to stderr")?;
    let envp: [*const c_char; 1] = [std::ptr::null()];
    // SAFETY: probe, argv and envp are NUL-terminated and live in the suspended parent's memory.
    unsafe { libc::execve(setup.probe.as_ptr(), run.argv.as_ptr(), envp.as_ptr()) };
    Err(("execve the probe", nix::errno::Errno::last_raw()))
}

fn write_file(path: &CStr, text: &CStr, step: &'static str) -> Step {
    // SAFETY: valid C strings; the descriptor is closed before returning.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        check(fd.into(), step)?;
        let bytes = text.to_bytes();
        let written = libc::write(fd, bytes.as_ptr().cast(), bytes.len());
        libc::close(fd);
        check(written as libc::c_long, step)
    }
}

/// Brings `lo` up in the new network namespace: the only interface it has.
fn loopback_up() -> Step {
    // SAFETY: socket returns a descriptor or -1; ifreq is plain data we fill in; the socket is
    // close-on-exec, so the probe never sees it.
    unsafe {
        let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        check(sock.into(), "socket for lo")?;
        let mut request: libc::ifreq = std::mem::zeroed();
        for (dst, src) in request.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as c_char;
        }
        request.ifr_ifru.ifru_flags =
            (libc::IFF_UP | libc::IFF_LOOPBACK | libc::IFF_RUNNING) as libc::c_short;
        check(
            libc::ioctl(sock, libc::SIOCSIFFLAGS, &request).into(),
            "bring lo up",
        )
    }
}
