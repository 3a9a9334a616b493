//! The outer VM of the nested-KVM tests, seen from inside: the test binary runs as PID 1 of
//! an initramfs ([`super::outer_vm`]) and sets the machine up itself — a tmpfs root where a
//! container needs one, the kernel's filesystems, the KVM modules — then powers it off.
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use nix::mount::{mount, MsFlags};

use super::outer_vm::INSIDE_ENV;

/// True in the outer VM's init (PID 1 with [`INSIDE_ENV`] set); false on the host.
pub fn is_inside() -> bool {
    std::env::var_os(INSIDE_ENV).is_some() && std::process::id() == 1
}

/// Moves the initramfs tree to a tmpfs and makes that the root, as switch_root does (mount a
/// tmpfs, move every file into it, move the mount over /, chroot into it). pivot_root(2),
/// which a container needs, refuses to run while the root is the initramfs (rootfs) itself.
/// Run it first, before anything is mounted below /.
pub fn move_root_to_tmpfs() -> Result<(), String> {
    let new_root = Path::new("/newroot");
    std::fs::create_dir(new_root).map_err(|e| format!("mkdir /newroot: {e}"))?;
    mount(
        Some("tmpfs"),
        new_root,
        Some("tmpfs"),
        MsFlags::empty(),
        Some("mode=0755"),
    )
    .map_err(|e| format!("mount tmpfs on /newroot: {e}"))?;
    for entry in std::fs::read_dir("/").map_err(|e| format!("read /: {e}"))? {
        let entry = entry.map_err(|e| format!("read /: {e}"))?;
        if entry.file_name() != "newroot" {
            move_tree(&entry.path(), &new_root.join(entry.file_name()))?;
        }
    }
    nix::unistd::chdir(new_root).map_err(|e| format!("chdir /newroot: {e}"))?;
    mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>)
        .map_err(|e| format!("move /newroot over /: {e}"))?;
    nix::unistd::chroot(".").map_err(|e| format!("chroot: {e}"))?;
    nix::unistd::chdir("/").map_err(|e| format!("chdir /: {e}"))?;
    Ok(())
}

/// Copies `from` to `to` (directories, files, links, device nodes; modes kept), then removes
/// `from`, so the initramfs's memory is freed as the copy grows.
fn move_tree(from: &Path, to: &Path) -> Result<(), String> {
    let what = |e: &dyn std::fmt::Display| format!("move {}: {e}", from.display());
    let meta = std::fs::symlink_metadata(from).map_err(|e| what(&e))?;
    let kind = meta.file_type();
    if kind.is_dir() {
        std::fs::create_dir(to).map_err(|e| what(&e))?;
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(|e| what(&e))?;
        for entry in std::fs::read_dir(from).map_err(|e| what(&e))? {
            let entry = entry.map_err(|e| what(&e))?;
            move_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
        return std::fs::remove_dir(from).map_err(|e| what(&e));
    }
    if kind.is_symlink() {
        let target = std::fs::read_link(from).map_err(|e| what(&e))?;
        std::os::unix::fs::symlink(target, to).map_err(|e| what(&e))?;
    } else if kind.is_char_device() || kind.is_block_device() {
        let flag = if kind.is_char_device() {
            nix::sys::stat::SFlag::S_IFCHR
        } else {
            nix::sys::stat::SFlag::S_IFBLK
        };
        let mode = nix::sys::stat::Mode::from_bits_truncate(meta.mode() & 0o7777);
        nix::sys::stat::mknod(to, flag, mode, meta.rdev()).map_err(|e| what(&e))?;
    } else {
        std::fs::copy(from, to).map_err(|e| what(&e))?;
    }
    std::fs::remove_file(from).map_err(|e| what(&e))
}

/// Mounts proc, sysfs, devtmpfs and devpts (/dev/ptmx: isobench gives some VMMs a terminal),
/// and cgroup2 at /sys/fs/cgroup when `cgroup2`.
pub fn mount_kernel_filesystems(cgroup2: bool) -> Result<(), String> {
    let mut mounts = vec![
        ("proc", "/proc", "proc", None),
        ("sysfs", "/sys", "sysfs", None),
        ("devtmpfs", "/dev", "devtmpfs", None),
        ("devpts", "/dev/pts", "devpts", Some("ptmxmode=0666")),
    ];
    if cgroup2 {
        mounts.push(("cgroup2", "/sys/fs/cgroup", "cgroup2", None));
    }
    for (source, target, fstype, options) in mounts {
        std::fs::create_dir_all(target).map_err(|e| format!("mkdir {target}: {e}"))?;
        mount(
            Some(source),
            target,
            Some(fstype),
            MsFlags::empty(),
            options,
        )
        .map_err(|e| format!("mount {target}: {e}"))?;
    }
    if !Path::new("/dev/ptmx").exists() {
        std::os::unix::fs::symlink("pts/ptmx", "/dev/ptmx")
            .map_err(|e| format!("symlink /dev/ptmx: {e}"))?;
    }
    Ok(())
}

/// Loads the modules /modules/order names from /modules, in order (kvm-amd.ko and what it
/// depends on).
pub fn load_kvm_modules() -> Result<(), String> {
    let order =
        std::fs::read_to_string("/modules/order").map_err(|e| format!("/modules/order: {e}"))?;
    for module in order.lines() {
        let file = std::fs::File::open(format!("/modules/{module}"))
            .map_err(|e| format!("{module}: {e}"))?;
        nix::kmod::finit_module(&file, c"", nix::kmod::ModuleInitFlags::empty())
            .map_err(|e| format!("load {module}: {e}"))?;
    }
    Ok(())
}

/// The processes whose name (comm) contains one of `names`, as "pid (comm, state X)".
pub fn processes_named(names: &[&str]) -> Result<Vec<String>, String> {
    Ok(procfs::process::all_processes()
        .map_err(|e| e.to_string())?
        .filter_map(|p| p.ok()?.stat().ok())
        .filter(|stat| names.iter().any(|name| stat.comm.contains(name)))
        .map(|stat| format!("{} ({}, state {})", stat.pid, stat.comm, stat.state))
        .collect())
}

/// Ends a child that outlives its deadline (see [`watch`]).
pub struct Watchdog {
    done: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<bool>,
}

/// Watches `pid`: should it still run after `deadline`, prints every user process's threads
/// (state, wchan, kernel stack) so a hang says where it is, sends `pid` SIGINT (a run cleans
/// up on it), and 15 s later SIGKILLs every process but PID 1.
pub fn watch(pid: u32, deadline: std::time::Duration) -> Watchdog {
    use std::sync::mpsc::RecvTimeoutError::Timeout;
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        if wait.recv_timeout(deadline) != Err(Timeout) {
            return false;
        }
        println!("{pid} still runs after {} s; threads:", deadline.as_secs());
        print_threads();
        let pid = nix::unistd::Pid::from_raw(pid as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
        if wait.recv_timeout(std::time::Duration::from_secs(15)) == Err(Timeout) {
            for process in user_processes().into_iter().filter(|p| p.pid != 1) {
                let pid = nix::unistd::Pid::from_raw(process.pid);
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            }
        }
        true
    });
    Watchdog { done, thread }
}

impl Watchdog {
    /// Stops watching; true when the deadline had passed.
    pub fn stop(self) -> bool {
        let _ = self.done.send(());
        self.thread.join().unwrap_or(true)
    }
}

/// Processes with a command line (kernel threads have none).
fn user_processes() -> Vec<procfs::process::Process> {
    procfs::process::all_processes()
        .map(|all| all.flatten())
        .into_iter()
        .flatten()
        .filter(|p| p.cmdline().is_ok_and(|c| !c.is_empty()))
        .collect()
}

fn print_threads() {
    for process in user_processes() {
        let cmdline = process.cmdline().unwrap_or_default().join(" ");
        println!("  {} {cmdline}", process.pid);
        for task in process.tasks().into_iter().flatten().flatten() {
            let dir = format!("/proc/{}/task/{}", process.pid, task.tid);
            let read = |file: &str| std::fs::read_to_string(format!("{dir}/{file}"));
            let stat = task.stat().ok();
            println!(
                "    thread {} {} state {} wchan {}",
                task.tid,
                stat.as_ref().map(|s| s.comm.as_str()).unwrap_or("?"),
                stat.as_ref().map(|s| s.state).unwrap_or('?'),
                read("wchan").unwrap_or_default()
            );
            for frame in read("stack").unwrap_or_default().lines().take(8) {
                println!("      {frame}");
            }
        }
    }
}

/// Prints `<verdict> PASS <summary>` or `<verdict> FAIL <error>` on the console, for
/// [`crate::testing::outer_vm::OuterRun::assert_passed`], then powers the outer VM off.
pub fn report_and_power_off(verdict: &str, result: Result<String, String>) {
    match result {
        Ok(summary) => println!("{verdict} PASS {summary}"),
        Err(error) => println!("{verdict} FAIL {error}"),
    }
    power_off();
}

/// Powers the outer VM off (ACPI on QEMU's pc machine). Should that fail, returning ends
/// PID 1, the kernel panics, and panic=-1 with -no-reboot ends QEMU all the same.
pub fn power_off() {
    // SAFETY: sync and reboot(2) take no pointers; as PID 1 we may power the machine off.
    unsafe {
        libc::sync();
        libc::reboot(libc::RB_POWER_OFF);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn move_tree_keeps_files_links_and_modes_and_removes_the_source() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("from"), dir.path().join("to"));
        std::fs::create_dir_all(from.join("usr/bin")).unwrap();
        std::fs::write(from.join("usr/bin/tool"), b"#!x\n").unwrap();
        std::fs::set_permissions(
            from.join("usr/bin/tool"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::os::unix::fs::symlink("usr/bin", from.join("bin")).unwrap();
        move_tree(&from, &to).unwrap();
        assert!(!from.exists());
        assert_eq!(std::fs::read(to.join("usr/bin/tool")).unwrap(), b"#!x\n");
        let mode = std::fs::metadata(to.join("usr/bin/tool")).unwrap().mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(
            std::fs::read_link(to.join("bin")).unwrap(),
            Path::new("usr/bin")
        );
    }
}
