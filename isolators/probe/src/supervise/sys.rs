//! The few Linux calls the supervisor needs that std does not offer (signals to a process
//! group, waiting for any child, the parent-death signal, loopback up, mounts), declared here
//! as `extern "C"` against glibc, which the static probe links anyway.
//!
//! Why not the `libc` or `nix` crates: these eight functions are all the probe needs, their
//! signatures are fixed by POSIX/Linux, and declaring them keeps the probe's dependency set to
//! regex-lite (see build.rs). Each wrapper is safe: it passes only owned, valid memory.
use std::ffi::CString;
use std::io;

pub const SIGHUP: i32 = 1;
pub const SIGINT: i32 = 2;
pub const SIGKILL: i32 = 9;
pub const SIGTERM: i32 = 15;
const SIG_BLOCK: i32 = 0;
const SIG_SETMASK: i32 = 2;
const ECHILD: i32 = 10;
const ESRCH: i32 = 3;
const EINTR: i32 = 4;
const PR_SET_PDEATHSIG: i32 = 1;
const PR_SET_CHILD_SUBREAPER: i32 = 36;
const AF_INET: i32 = 2;
const SOCK_DGRAM: i32 = 2;
const SOCK_CLOEXEC: i32 = 0o2_000_000;
const SIOCGIFFLAGS: u64 = 0x8913;
const SIOCSIFFLAGS: u64 = 0x8914;
const IFF_UP: i16 = 1;

/// glibc's sigset_t: 1024 bits.
#[repr(C)]
pub struct SignalSet([u64; 16]);

extern "C" {
    fn sigemptyset(set: *mut SignalSet) -> i32;
    fn sigaddset(set: *mut SignalSet, signal: i32) -> i32;
    fn pthread_sigmask(how: i32, set: *const SignalSet, old: *mut SignalSet) -> i32;
    fn sigwait(set: *const SignalSet, signal: *mut i32) -> i32;
    fn kill(pid: i32, signal: i32) -> i32;
    fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
    fn prctl(option: i32, arg2: u64, arg3: u64, arg4: u64, arg5: u64) -> i32;
    fn getppid() -> i32;
    fn socket(domain: i32, kind: i32, protocol: i32) -> i32;
    fn ioctl(fd: i32, request: u64, argument: *mut u8) -> i32;
    fn close(fd: i32) -> i32;
    fn mount(
        source: *const i8,
        target: *const i8,
        fstype: *const i8,
        flags: u64,
        data: *const u8,
    ) -> i32;
}

/// Sends `signal` to every process of process group `group`; false when none is left.
pub fn signal_group(group: i32, signal: i32) -> bool {
    // SAFETY: kill takes plain integers; a negative pid names a process group.
    unsafe { kill(-group, signal) == 0 }
}

impl SignalSet {
    pub fn of(signals: &[i32]) -> SignalSet {
        let mut set = SignalSet([0; 16]);
        // SAFETY: both calls write only into `set`, which we own; the signal numbers are valid.
        unsafe {
            sigemptyset(&mut set);
            for &signal in signals {
                sigaddset(&mut set, signal);
            }
        }
        set
    }

    /// Blocks these signals in the calling thread and in the threads it starts afterwards.
    /// A forked child inherits the mask: see [`unblock_all`].
    pub fn block(&self) -> io::Result<()> {
        // SAFETY: `self` is a valid sigset_t; the old mask is not asked for.
        match unsafe { pthread_sigmask(SIG_BLOCK, self, std::ptr::null_mut()) } {
            0 => Ok(()),
            error => Err(io::Error::from_raw_os_error(error)),
        }
    }

    /// Waits for one of these (blocked) signals; returns its number.
    pub fn wait(&self) -> io::Result<i32> {
        let mut signal = 0;
        // SAFETY: `self` is a valid sigset_t; sigwait writes one int into `signal`.
        match unsafe { sigwait(self, &mut signal) } {
            0 => Ok(signal),
            error => Err(io::Error::from_raw_os_error(error)),
        }
    }
}

/// Makes the probe the reaper of its descendants' orphans (what PID 1 is anyway): when the
/// command's shell dies first, its children re-parent to the probe, which then sees and
/// reaps them instead of leaving them to the host's init.
pub fn become_subreaper() -> io::Result<()> {
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER, 1) takes plain integers.
    match unsafe { prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// The probe's children now, from /proc/self/task/*/children (empty when /proc is absent).
pub fn children() -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|pid| pid.parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect()
}

/// SIGKILL to one process.
pub fn kill_process(pid: i32) {
    // SAFETY: kill takes plain integers; `pid` is positive, one process.
    unsafe { kill(pid, SIGKILL) };
}

/// As PID 1 of a pid namespace: SIGKILL to every process in it but the caller.
pub fn kill_all_but_self() {
    // SAFETY: kill takes plain integers; pid -1 means every process the caller may signal.
    unsafe { kill(-1, SIGKILL) };
}

/// How a child ended, from wait status bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Exited(i32),
    Killed(i32),
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Ended::Exited(code) => write!(f, "exited with status {code}"),
            Ended::Killed(signal) => {
                write!(f, "was killed by signal {signal}{}", signal_name(signal))
            }
        }
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        1 => " (SIGHUP)",
        2 => " (SIGINT)",
        6 => " (SIGABRT)",
        9 => " (SIGKILL)",
        11 => " (SIGSEGV)",
        13 => " (SIGPIPE)",
        15 => " (SIGTERM)",
        _ => "",
    }
}

/// Waits for any child to end (blocking): its pid and how it ended, or None when no child is
/// left (ECHILD).
pub fn wait_any_child() -> Option<(i32, Ended)> {
    loop {
        let mut status = 0i32;
        // SAFETY: waitpid writes one int into `status`, which outlives the call.
        let pid = unsafe { waitpid(-1, &mut status, 0) };
        if pid > 0 {
            let ended = match status & 0x7f {
                0 => Ended::Exited((status >> 8) & 0xff),
                signal => Ended::Killed(signal),
            };
            return Some((pid, ended));
        }
        match io::Error::last_os_error().raw_os_error() {
            Some(EINTR) => continue,
            Some(ECHILD) | None | Some(_) => return None,
        }
    }
}

/// In a freshly forked child: an empty signal mask, so the command gets SIGTERM (std's
/// fork-and-exec path, taken with `pre_exec`, keeps the parent thread's mask).
pub fn unblock_all() -> io::Result<()> {
    let none = SignalSet::of(&[]);
    // SAFETY: `none` is a valid, empty sigset_t; sigprocmask is async-signal-safe.
    match unsafe { pthread_sigmask(SIG_SETMASK, &none, std::ptr::null_mut()) } {
        0 => Ok(()),
        error => Err(io::Error::from_raw_os_error(error)),
    }
}

/// In a freshly forked child: die with SIGKILL when the probe dies, so a probe killed by the
/// harness (SIGKILL, no chance to stop the command) does not leave the command behind.
pub fn die_with_parent(parent: i32) -> io::Result<()> {
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes a signal number; getppid cannot fail.
    unsafe {
        if prctl(PR_SET_PDEATHSIG, SIGKILL as u64, 0, 0, 0) != 0 {
            return Err(io::Error::last_os_error());
        }
        // The parent may have died between fork and prctl: then nobody would signal us.
        if getppid() != parent {
            // No allocation between fork and exec: a plain errno (ESRCH, "no such process").
            return Err(io::Error::from_raw_os_error(ESRCH));
        }
    }
    Ok(())
}

/// Brings the loopback interface up if it is down (a fresh network namespace, a VM guest).
/// Returns whether it had to.
pub fn loopback_up() -> io::Result<bool> {
    // struct ifreq: 16 bytes of name, then a union whose first member is the short ifr_flags.
    let mut request = [0u8; 40];
    request[..2].copy_from_slice(b"lo");
    // SAFETY: socket takes plain integers; the descriptor is closed below on every path.
    let fd = unsafe { socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let result = (|| {
        // SAFETY: SIOCGIFFLAGS reads and writes a struct ifreq (40 bytes), `request` is one.
        if unsafe { ioctl(fd, SIOCGIFFLAGS, request.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let flags = i16::from_ne_bytes([request[16], request[17]]);
        if flags & IFF_UP != 0 {
            return Ok(false);
        }
        request[16..18].copy_from_slice(&(flags | IFF_UP).to_ne_bytes());
        // SAFETY: as above; SIOCSIFFLAGS only reads the struct.
        if unsafe { ioctl(fd, SIOCSIFFLAGS, request.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(true)
    })();
    // SAFETY: `fd` is the socket opened above, closed once.
    unsafe { close(fd) };
    result
}

/// mount(2) of a pseudo file system (`proc`, `sysfs`, `devtmpfs`, `tmpfs`) on `target`.
pub fn mount_fs(fstype: &str, target: &str) -> io::Result<()> {
    let fstype = CString::new(fstype)?;
    let target = CString::new(target)?;
    // SAFETY: every pointer is a NUL-terminated string that outlives the call; data is null.
    let result = unsafe {
        mount(
            fstype.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    match result {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}
