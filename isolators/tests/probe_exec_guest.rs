//! The probe's `exec` mode as a Linux guest's /init, in a real VM (QEMU TCG emulation, which
//! runs on any host): it mounts what a userland expects (proc, sysfs, devtmpfs, tmpfs on /tmp
//! and /run), brings loopback up, starts busybox httpd, signals ready when `tcp:8080`
//! connects inside the guest, and on release stops httpd and powers the VM off.
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use isolators::microvm::cpio::{self, Entry};
use isolators::microvm::guest::{find_kernel, linux_cmdline};
use isolators::probe::PROBE_BYTES;
use isolators::protocol::{ReadyCheck, UserCommand, Workload};
use isolators::testing::{check_on_path, run_if, which};

/// Emulated boots on a loaded 2-core host take tens of seconds; this is only the ceiling.
const BOOT_LIMIT: Duration = Duration::from_secs(240);

/// QEMU, killed and reaped if the test ends early.
struct Qemu(Child);

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn initramfs(busybox: &[u8], spec: &str) -> Vec<u8> {
    cpio::archive(&[
        Entry::dir("dev", 0o755),
        Entry::DEV_CONSOLE,
        Entry::dir("bin", 0o755),
        Entry::file("bin/busybox", 0o755, busybox),
        Entry::dir("www", 0o755),
        Entry::file("www/index.html", 0o644, b"hello from the guest\n"),
        Entry::file("isobench-workload", 0o644, spec.as_bytes()),
        Entry::file("init", 0o755, PROBE_BYTES),
    ])
    .unwrap()
}

/// The host's TSC rate in kHz, measured against CLOCK_MONOTONIC over 50 ms.
fn host_tsc_khz() -> u64 {
    let tsc = || {
        // SAFETY: RDTSC reads the time-stamp counter; it has no memory effects and every
        // x86-64 CPU has it.
        unsafe { core::arch::x86_64::_rdtsc() }
    };
    let (tsc_start, clock_start) = (tsc(), Instant::now());
    std::thread::sleep(Duration::from_millis(50));
    let (ticks, elapsed) = (tsc() - tsc_start, clock_start.elapsed());
    (ticks as f64 / elapsed.as_secs_f64() / 1000.0).round() as u64
}

#[test]
fn exec_probe_as_guest_init_mounts_brings_loopback_up_and_powers_off() {
    let test = "exec_probe_as_guest_init…";
    if !run_if(test, "qemu", check_on_path("qemu-system-x86_64"))
        || !run_if(test, "busybox", check_on_path("busybox"))
        || !run_if(
            test,
            "guest-kernel",
            find_kernel(None).map(drop).map_err(|e| e.to_string()),
        )
    {
        return;
    }
    let busybox = std::fs::read(which("busybox").unwrap()).unwrap();
    let script = "busybox cat /proc/mounts; busybox ip addr show lo; \
                  exec busybox httpd -f -p 127.0.0.1:8080 -h /www";
    let spec = UserCommand {
        argv: ["busybox", "sh", "-c", script].map(String::from).to_vec(),
        env: Vec::new(),
        workdir: "/".into(),
        ready: ReadyCheck::Tcp { port: 8080 },
        ready_timeout_ms: 60_000,
        stop_grace_ms: 2_000,
    };
    let scratch = tempfile::tempdir().unwrap();
    let initrd = scratch.path().join("initrd");
    std::fs::write(&initrd, initramfs(&busybox, &spec.to_spec())).unwrap();
    let workload: Workload = "exec".parse().unwrap();
    // As the qemu-tcg isolator does: under emulation on a busy host the guest's PIT
    // calibration of the TSC fails and the boot hangs, unless the kernel is told the rate.
    let cmdline = format!(
        "{} tsc_early_khz={}",
        linux_cmdline(&workload),
        host_tsc_khz()
    );
    let mut qemu = Qemu(
        Command::new("qemu-system-x86_64")
            .args(["-M", "microvm,x-option-roms=off,isa-serial=on,rtc=off"])
            .args(["-accel", "tcg", "-cpu", "max", "-m", "256", "-smp", "1"])
            .args(["-nodefaults", "-no-user-config", "-display", "none"])
            .args([
                "-serial",
                "stdio",
                "-device",
                "isa-debug-exit,iobase=0xf4,iosize=0x04",
            ])
            .arg("-kernel")
            .arg(find_kernel(None).unwrap())
            .arg("-initrd")
            .arg(&initrd)
            .args(["-append", &cmdline])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (lines, console) = mpsc::channel();
    let stdout = BufReader::new(qemu.0.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let started = Instant::now();
    let mut seen = Vec::new();
    let ready = loop {
        let left = BOOT_LIMIT.saturating_sub(started.elapsed());
        match console.recv_timeout(left) {
            Ok(line) if line.contains("ISOBENCH-READY") => break line,
            Ok(line) => seen.push(line),
            Err(_) => panic!(
                "no ready line within {BOOT_LIMIT:?}; console:\n{}",
                seen.join("\n")
            ),
        }
    };
    let console_text = seen.join("\n");
    for mounted in [
        "[cmd] proc /proc proc",
        "[cmd] sysfs /sys sysfs",
        "[cmd] devtmpfs /dev devtmpfs",
        "[cmd] tmpfs /tmp tmpfs",
        "[cmd] tmpfs /run tmpfs",
    ] {
        assert!(console_text.contains(mounted), "{mounted}:\n{console_text}");
    }
    assert!(console_text.contains("lo: <LOOPBACK,UP"), "{console_text}");
    assert!(ready.contains("mode=exec work_ns="), "{ready}");
    assert!(ready.contains("init_boottime_ns="), "{ready}");
    // Release: a line on the console. The probe stops httpd and powers off through port 0xf4
    // (isa-debug-exit: QEMU's status is (0 << 1) | 1).
    let mut stdin = qemu.0.stdin.take().unwrap();
    stdin.write_all(b"release\n").unwrap();
    stdin.flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = qemu.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the VM did not power off after release"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(1), "ended through the exit port");
    eprintln!(
        "exec probe in an emulated VM: ready after {:.1} s wall, {ready}",
        started.elapsed().as_secs_f64()
    );
}
