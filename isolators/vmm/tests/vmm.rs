//! `isobench-vmm` as a process: bad input in one line, and a real boot of the bare guest.
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use isolators::testing::run_if;

const VMM: &str = env!("CARGO_BIN_EXE_isobench-vmm");

/// Runs the VMM to completion (stdin closed) and returns (exit code, stderr).
fn run(args: &[&str]) -> (Option<i32>, String) {
    let started = Instant::now();
    let output = Command::new(VMM)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{args:?} took {:?}",
        started.elapsed()
    );
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn assert_one_line_error(args: &[&str], needle: &str) {
    let (code, stderr) = run(args);
    assert_ne!(code, Some(0), "{args:?} should fail");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "one line, got: {stderr}"
    );
    assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
}

#[test]
fn bad_input_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    assert_one_line_error(&["--kernel", &path("missing")], "no such file");
    std::fs::write(
        path("random"),
        (0..65536u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    assert_one_line_error(
        &["--kernel", &path("random")],
        "is not an ELF, PVH ELF or bzImage",
    );
    // A bzImage header that promises more than the file holds: a truncated kernel.
    let mut truncated = vec![0u8; 4096];
    truncated[0x1f1] = 4;
    truncated[0x1f4..0x1f8].copy_from_slice(&100_000u32.to_le_bytes());
    truncated[0x202..0x206].copy_from_slice(b"HdrS");
    std::fs::write(path("truncated"), truncated).unwrap();
    assert_one_line_error(&["--kernel", &path("truncated")], "truncated");
    std::fs::write(
        path("bare.elf"),
        isolators::microvm::guest::bare_guest_elf(0),
    )
    .unwrap();
    std::fs::write(path("big.initrd"), vec![0u8; 40 << 20]).unwrap();
    assert_one_line_error(
        &[
            "--kernel",
            &path("bare.elf"),
            "--initrd",
            &path("big.initrd"),
            "--mem-mib",
            "32",
        ],
        "does not fit",
    );
    assert_one_line_error(
        &["--kernel", &path("big.initrd"), "--mem-mib", "16"],
        "too small",
    );
    assert_one_line_error(
        &["--kernel", &path("bare.elf"), "--mem-mib", "lots"],
        "--mem-mib",
    );
    assert_one_line_error(&["--frobnicate"], "unknown argument");
}

#[test]
fn boots_the_bare_guest_and_reports_every_phase() {
    let kvm = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .map(|_| ())
        .map_err(|e| format!("/dev/kvm: {e}"));
    if !run_if("boots_the_bare_guest_and_reports_every_phase", "kvm", kvm) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let elf = dir.path().join("bare.elf");
    std::fs::write(&elf, isolators::microvm::guest::bare_guest_elf(2)).unwrap();
    let (report_read, report_write) = nix::unistd::pipe().unwrap();
    let mut child = Command::new(VMM)
        .arg("--kernel")
        .arg(&elf)
        .args([
            "--mem-mib",
            "64",
            "--report-fd",
            &report_write.as_raw_fd().to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    drop(report_write);
    let mut report = BufReader::new(std::fs::File::from(report_read));
    let mut lines = Vec::new();
    while !lines.iter().any(|l: &String| l.starts_with("ready ")) {
        let mut line = String::new();
        assert!(
            report.read_line(&mut line).unwrap() > 0,
            "report ended before ready: {lines:?}"
        );
        lines.push(line.trim().to_string());
    }
    let mut console = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut console)
        .unwrap();
    assert_eq!(console, "ISOBENCH-READY mode=bare\n");
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut report, &mut rest).unwrap();
    assert!(child.wait().unwrap().success());
    for prefix in [
        "phase vmm-start",
        "phase kvm-create",
        "guest-ram ",
        "phase memory",
        "phase kernel-load",
        "phase first-run",
        "ready ",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(prefix)),
            "{prefix} missing from {lines:?}"
        );
    }
    assert_eq!(rest.trim(), "exit exit-port");
    let stamp = |prefix: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(prefix))
            .unwrap()
            .rsplit(' ')
            .next()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    assert!(
        stamp("phase vmm-start") <= stamp("phase first-run")
            && stamp("phase first-run") <= stamp("ready ")
    );
}
