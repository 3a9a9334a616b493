//! Bad input to `isobench-vmm`: every mistake is one clear stderr line and a non-zero exit.
//! Kernel and initrd are checked before /dev/kvm is opened, so these run on any host.
mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::guests::{bzimage, elf64, Code};
use common::{check_root, guest_kernel, run_if, write_file, Run};

fn pvh_guest() -> Vec<u8> {
    elf64(&Code::default().ready().exit().bytes(), true)
}

#[test]
fn help_prints_usage() {
    let outcome = Run::new(&["--help"]).go();
    assert_eq!(outcome.code, Some(0));
    assert!(String::from_utf8_lossy(&outcome.stdout).starts_with("usage: isobench-vmm --kernel"));
}

#[test]
fn missing_kernel() {
    Run::new(&["--kernel", "/nonexistent/vmlinuz"]).go().assert_one_line_error(
        "kernel /nonexistent/vmlinuz: no such file — pass --kernel or run scripts/fetch-guest-kernel.sh",
    );
}

#[test]
fn random_bytes_are_not_a_kernel() {
    let dir = tempfile::tempdir().unwrap();
    let random: Vec<u8> = (0..65536u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let path = write_file(dir.path(), "random", &random);
    Run::kernel(&path, &[])
        .go()
        .assert_one_line_error("random: is not an ELF, PVH ELF or bzImage");
}

/// A real bzImage from the host's /boot, else the guest kernel cache, else a header-only fake.
fn some_bzimage() -> (Vec<u8>, String) {
    let boot: Option<PathBuf> = std::fs::read_dir("/boot").ok().and_then(|dir| {
        dir.filter_map(|e| e.ok().map(|e| e.path())).find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
    });
    for path in boot.into_iter().chain(guest_kernel().ok()) {
        if let Ok(bytes) = std::fs::read(&path) {
            return (bytes, path.display().to_string());
        }
    }
    eprintln!("NOTE truncated_bzimage: no /boot/vmlinuz-* or cached guest kernel; using a header-only fake bzImage");
    let mut fake = bzimage(&Code::default().exit().bytes());
    fake[0x1f4..0x1f8].copy_from_slice(&100_000u32.to_le_bytes()); // syssize far beyond the file
    (fake, "a header-only fake".into())
}

#[test]
fn truncated_bzimage() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, source) = some_bzimage();
    let cut = if source.starts_with('/') {
        bytes.len() / 2
    } else {
        bytes.len()
    };
    let path = write_file(dir.path(), "vmlinuz", &bytes[..cut]);
    eprintln!("truncated_bzimage: cut {source} to {cut} bytes");
    Run::kernel(&path, &[])
        .go()
        .assert_one_line_error("truncated: the bzImage header promises");
}

#[test]
fn truncated_elf() {
    let dir = tempfile::tempdir().unwrap();
    let guest = pvh_guest();
    let path = write_file(dir.path(), "cut.elf", &guest[..guest.len() - 4]);
    Run::kernel(&path, &[])
        .go()
        .assert_one_line_error("truncated: an ELF segment ends at byte");
    let path = write_file(dir.path(), "stub.elf", &guest[..40]);
    Run::kernel(&path, &[])
        .go()
        .assert_one_line_error("truncated: the ELF header is cut off");
}

#[test]
fn elf32_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let mut guest = pvh_guest();
    guest[4] = 1; // ELFCLASS32
    let path = write_file(dir.path(), "guest32.elf", &guest);
    Run::kernel(&path, &[])
        .go()
        .assert_one_line_error("is a 32-bit ELF — link it as ELF64");
}

#[test]
fn initrd_larger_than_memory() {
    let dir = tempfile::tempdir().unwrap();
    let kernel = write_file(dir.path(), "guest.elf", &pvh_guest());
    let initrd = write_file(dir.path(), "big.initrd", &vec![0u8; 40 << 20]);
    Run::kernel(
        &kernel,
        &["--initrd", &initrd.to_string_lossy(), "--mem-mib", "32"],
    )
    .go()
    .assert_one_line_error(
        "big.initrd (40 MiB) is larger than guest memory (32 MiB) — raise --mem-mib",
    );
}

#[test]
fn kernel_and_initrd_do_not_fit_together() {
    let dir = tempfile::tempdir().unwrap();
    let kernel = write_file(dir.path(), "guest.elf", &pvh_guest());
    let initrd = write_file(dir.path(), "initrd", &vec![0u8; (31 << 20) + (1 << 19)]);
    Run::kernel(
        &kernel,
        &["--initrd", &initrd.to_string_lossy(), "--mem-mib", "32"],
    )
    .go()
    .assert_one_line_error(
        "--mem-mib 32 is too small for the kernel (RAM up to 2 MiB) + initrd (32 MiB)",
    );
}

#[test]
fn memory_too_small_for_the_kernel() {
    let dir = tempfile::tempdir().unwrap();
    let mut kernel = bzimage(&Code::default().exit().bytes());
    kernel[0x260..0x264].copy_from_slice(&(64u32 << 20).to_le_bytes()); // init_size 64 MiB
    let path = write_file(dir.path(), "bzImage", &kernel);
    Run::kernel(&path, &["--mem-mib", "16"])
        .go()
        .assert_one_line_error("--mem-mib 16 is too small for the kernel (RAM up to 65 MiB)");
}

#[test]
fn bad_command_lines() {
    Run::new(&["--kernel", "k", "--mem-mib", "lots"])
        .go()
        .assert_one_line_error("--mem-mib \"lots\"");
    Run::new(&["--frobnicate"])
        .go()
        .assert_one_line_error("unknown argument \"--frobnicate\"");
    Run::new(&["--initrd", "i"])
        .go()
        .assert_one_line_error("--kernel is required");
    Run::new(&["--kernel", "k", "--split-irqchip"])
        .go()
        .assert_one_line_error("--split-irqchip needs --no-pit");
    let mut run = Run::new(&["--kernel", "k", "--report-fd", "987"]);
    run.report_fd = false;
    run.go()
        .assert_one_line_error("--report-fd 987: not an open descriptor");
}

/// Kernel and directory readable by anyone, for runs as nobody.
fn world_readable_guest(dir: &Path) -> PathBuf {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let kernel = write_file(dir, "guest.elf", &pvh_guest());
    std::fs::set_permissions(&kernel, std::fs::Permissions::from_mode(0o644)).unwrap();
    kernel
}

#[test]
fn kvm_permission_denied_says_what_to_do() {
    if !run_if(
        "kvm_permission_denied_says_what_to_do",
        "root",
        check_root(),
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut run = Run::kernel(&world_readable_guest(dir.path()), &[]);
    run.before_exec = Some(|| {
        // SAFETY: setgroups/setgid/setuid are async-signal-safe; they change only this child.
        let ok = unsafe {
            libc::setgroups(0, std::ptr::null()) == 0
                && libc::setgid(65534) == 0
                && libc::setuid(65534) == 0
        };
        if ok {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    });
    let outcome = run.go();
    outcome.assert_one_line_error("/dev/kvm: permission denied — ");
    // The advice fits this host: a group it names exists in /etc/group and owns /dev/kvm.
    let advice = outcome.stderr.trim_end();
    let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
    if let Some(rest) = advice.split("add yourself to group ").nth(1) {
        let named = rest.split([',', ' ']).next().unwrap_or_default();
        assert!(
            groups.lines().any(|l| l.split(':').next() == Some(named)),
            "advises group {named:?}, which /etc/group does not have: {advice}"
        );
    } else {
        assert!(advice.contains("run as root"), "{advice}");
    }
}

#[test]
fn missing_dev_kvm_says_what_to_do() {
    if !run_if("missing_dev_kvm_says_what_to_do", "root", check_root()) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut run = Run::kernel(&world_readable_guest(dir.path()), &[]);
    // A private mount namespace with an empty tmpfs over /dev: no /dev/kvm for this child.
    run.before_exec = Some(|| {
        // SAFETY: unshare and mount are plain syscalls, async-signal-safe; the string
        // literals are NUL-terminated and outlive the calls.
        let ok = unsafe {
            libc::unshare(libc::CLONE_NEWNS) == 0
                && libc::mount(
                    std::ptr::null(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ) == 0
                && libc::mount(
                    c"tmpfs".as_ptr(),
                    c"/dev".as_ptr(),
                    c"tmpfs".as_ptr(),
                    0,
                    std::ptr::null(),
                ) == 0
        };
        if ok {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    });
    run.go()
        .assert_one_line_error("/dev/kvm: not found — load kvm_intel or kvm_amd");
}
