//! `clone3` onto a small private stack with CLONE_VM | CLONE_VFORK: the child borrows the
//! harness's address space until it execs, so no page tables are copied, and the parent resumes
//! exactly when the probe's execve has replaced the child (or the child has exited on an error).
use std::ffi::c_void;
use std::os::fd::RawFd;

use super::child::{child_main, ChildRun};
use crate::Error;

/// Stack for the pre-exec child. Its setup code needs a few KiB; 64 KiB is generous.
const STACK_BYTES: usize = 64 << 10;
/// An inaccessible page below the stack turns an overflow into a fault, not corruption.
const GUARD_BYTES: usize = 4 << 10;

/// clone3 flags above 32 bits (libc declares them as a c_int, which truncates them).
const CLONE_CLEAR_SIGHAND: u64 = 0x1_0000_0000;
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// The child's stack: mapped once per prepared isolator and reused, because with CLONE_VFORK
/// the child is done with it by the time `spawn` returns.
pub(super) struct ChildStack {
    base: *mut c_void,
}

// SAFETY: the mapping is owned by this value alone and only used during `spawn`, which takes
// `&mut self`; moving that ownership between threads is fine.
unsafe impl Send for ChildStack {}

impl ChildStack {
    pub(super) fn new() -> Result<ChildStack, Error> {
        // SAFETY: a fresh anonymous private mapping; no existing memory is touched.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                GUARD_BYTES + STACK_BYTES,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(Error::io(
                "mmap the container launcher stack",
                std::io::Error::last_os_error(),
            ));
        }
        // SAFETY: the first page of the mapping we just made.
        if unsafe { libc::mprotect(base, GUARD_BYTES, libc::PROT_NONE) } != 0 {
            let error = std::io::Error::last_os_error();
            // SAFETY: unmapping what we mapped above.
            unsafe { libc::munmap(base, GUARD_BYTES + STACK_BYTES) };
            return Err(Error::io("mprotect the stack guard page", error));
        }
        Ok(ChildStack { base })
    }
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        // SAFETY: unmapping the mapping made in `new`; no child uses it any more.
        unsafe { libc::munmap(self.base, GUARD_BYTES + STACK_BYTES) };
    }
}

/// Clones the container's first process with `namespace_flags`, into `cgroup_fd` (v2) when
/// given, and runs `child_main(run)` in it. Returns its host pid once it has exec'd the probe.
pub(super) fn spawn(
    stack: &mut ChildStack,
    namespace_flags: u64,
    cgroup_fd: Option<RawFd>,
    run: &mut ChildRun,
) -> Result<i32, Error> {
    let entry = child_main as extern "C" fn(*mut ChildRun) -> !;
    // SAFETY: child_main takes the ChildRun it is given and never returns.
    let ret = unsafe { clone_vfork(stack, namespace_flags, cgroup_fd, entry, run) };
    let pid = ret.map_err(|errno| {
        Error::sys(
            format!("clone3 of the container's first process{}", hint(errno)),
            errno,
        )
    })?;
    if let Some(step) = run.failed_step {
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
        let errno = nix::errno::Errno::from_raw(run.errno);
        return Err(Error::sys(
            format!("container set-up failed at \"{step}\""),
            errno,
        ));
    }
    Ok(pid)
}

/// What a failed clone3 most likely means.
pub(super) fn hint(errno: nix::errno::Errno) -> &'static str {
    match errno {
        nix::errno::Errno::ENOSYS | nix::errno::Errno::E2BIG => " (needs Linux 5.7 or newer)",
        nix::errno::Errno::EPERM => " (not allowed: run as root, or enable user namespaces)",
        nix::errno::Errno::ENOSPC | nix::errno::Errno::EUSERS => {
            " (namespace limit reached: see /proc/sys/user/max_*_namespaces)"
        }
        _ => "",
    }
}

/// clone3 with `flags` | CLONE_VM | CLONE_VFORK | CLONE_CLEAR_SIGHAND onto `stack`, into
/// `cgroup_fd` when given, running `entry(arg)` in the child. Returns once the child has
/// exec'd or exited, with its pid.
///
/// # Safety
/// `entry` must exec or exit without returning, and only touch `arg` and data that stays valid
/// while the parent is suspended.
pub(super) unsafe fn clone_vfork<T>(
    stack: &mut ChildStack,
    flags: u64,
    cgroup_fd: Option<RawFd>,
    entry: extern "C" fn(*mut T) -> !,
    arg: *mut T,
) -> Result<i32, nix::errno::Errno> {
    let mut flags = flags | libc::CLONE_VM as u64 | libc::CLONE_VFORK as u64 | CLONE_CLEAR_SIGHAND;
    if cgroup_fd.is_some() {
        flags |= CLONE_INTO_CGROUP;
    }
    // SAFETY: clone_args is plain data; all-zero is its documented "unused" value.
    let mut args: libc::clone_args = unsafe { std::mem::zeroed() };
    args.flags = flags;
    args.exit_signal = libc::SIGCHLD as u64;
    // SAFETY: pointer arithmetic inside the mapping: the stack is everything above the guard.
    args.stack = unsafe { stack.base.add(GUARD_BYTES) } as u64;
    args.stack_size = STACK_BYTES as u64;
    args.cgroup = cgroup_fd.map_or(0, |fd| fd as u64);
    // SAFETY: `args` is a valid clone_args; the caller guarantees `entry` and `arg`; the
    // parent is suspended until the child execs or exits.
    let ret = unsafe { clone3_vfork(&mut args, entry as *const c_void, arg.cast()) };
    if ret < 0 {
        return Err(nix::errno::Errno::from_raw(-ret as i32));
    }
    Ok(ret as i32)
}

/// The raw clone3 system call with a new stack. In the child, which starts on that stack with
/// nothing to return to, it calls `entry(run)` directly; `entry` never returns.
///
/// # Safety
/// `args` must describe a valid stack, and `entry` must exec or exit without returning.
#[cfg(target_arch = "x86_64")]
unsafe fn clone3_vfork(args: *mut libc::clone_args, entry: *const c_void, run: *mut c_void) -> i64 {
    let ret: i64;
    // SAFETY: the caller guarantees the arguments. The child branch zeroes the frame pointer (no
    // caller frame exists), keeps the 16-byte stack alignment the kernel gave it, and never
    // comes back; the parent branch only sees rax, rcx and r11 change, as declared.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "xor ebp, ebp",
            "mov rdi, r12",
            "call r13",
            "ud2",
            "2:",
            inlateout("rax") libc::SYS_clone3 => ret,
            in("rdi") args,
            in("rsi") std::mem::size_of::<libc::clone_args>(),
            in("r12") run,
            in("r13") entry,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}
