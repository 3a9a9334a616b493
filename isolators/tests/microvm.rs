//! The `microvm` isolators on the real /dev/kvm: the bare guest from launch to gone, its memory
//! split, bad input, timeouts and drops that leave no VMM behind; and the same bare guest
//! under `qemu-system-x86_64 -M microvm`.
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use isolators::microvm::guest::{bare_guest_elf, BareWork};
use isolators::microvm::{find_vmm, launch_vm, GuestImage, MicrovmIsolator, VmGuest, VmSpec};
use isolators::testing::{check_kvm_and_vmm, check_on_path, run_if};
use isolators::{Availability, Error, Host, Instance, Isolator, Workload};

const TIMEOUT: Duration = Duration::from_secs(20);

/// The VM tests take turns: their timings and CPU checks mean more on a quiet host, and two
/// cores are few.
static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn kvm_ready(test: &str) -> bool {
    run_if(test, "kvm", check_kvm_and_vmm())
}

/// A process we started, identified by pid and start time so a recycled pid is not mistaken
/// for it.
struct Tracked {
    pid: i32,
    start_time: u64,
}

fn track(pid: i32) -> Tracked {
    let stat = procfs::process::Process::new(pid)
        .and_then(|p| p.stat())
        .expect("the VMM exists right after launch");
    Tracked {
        pid,
        start_time: stat.starttime,
    }
}

/// Still there (running or an unreaped zombie)?
fn alive(tracked: &Tracked) -> bool {
    procfs::process::Process::new(tracked.pid)
        .and_then(|p| p.stat())
        .is_ok_and(|stat| stat.starttime == tracked.start_time)
}

fn assert_all_gone(tracked: &[Tracked]) {
    let left: Vec<i32> = tracked.iter().filter(|t| alive(t)).map(|t| t.pid).collect();
    assert!(left.is_empty(), "VMM processes left behind: {left:?}");
}

fn median_ms(mut samples: Vec<u64>) -> f64 {
    samples.sort_unstable();
    samples[samples.len() / 2] as f64 / 1e6
}

#[test]
fn bare_guest_boots_holds_and_powers_off() {
    let _turn = one_at_a_time();
    if !kvm_ready("bare_guest_boots_holds_and_powers_off") {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let isolator = MicrovmIsolator::new(VmGuest::Bare, None, None);
    let mut launcher = isolator
        .prepare(&"touch:4".parse().unwrap(), scratch.path())
        .unwrap();
    let disk = launcher.disk().clone();
    assert!(
        disk.image_apparent_bytes < 1024,
        "the bare guest is a few hundred bytes: {disk:?}"
    );
    assert!(
        disk.runtime_files
            .iter()
            .any(|f| f.contains("isobench-vmm")),
        "{disk:?}"
    );
    let mut instance = launcher.launch().unwrap();
    let vmm = track(instance.resources().pids[0]);
    let ready = instance.wait_ready(TIMEOUT).unwrap();
    assert!(ready.ready_ns > instance.launched_ns());
    // The bare guest's VM has a split irqchip (the I/O APIC in the VMM): its release below
    // reaches the guest only through the VMM's MSI route for the serial irqfd.
    let arguments = std::fs::read(format!("/proc/{}/cmdline", vmm.pid)).unwrap();
    assert!(
        arguments
            .split(|&b| b == 0)
            .any(|argument| argument == b"--split-irqchip"),
        "{}",
        String::from_utf8_lossy(&arguments)
    );
    assert_eq!(
        ready.report.get("mode").map(String::as_str),
        Some("bare"),
        "{ready:?}"
    );
    let names: Vec<&str> = ready.phases.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "vmm-exec",
            "kvm-create",
            "memory",
            "kernel-load",
            "first-run",
            "guest-work-begin",
            "guest-work-end",
            "guest-ready"
        ]
    );
    let offsets: Vec<u64> = ready.phases.iter().map(|&(_, ns)| ns).collect();
    assert!(
        offsets.windows(2).all(|w| w[0] <= w[1]),
        "phases out of order: {:?}",
        ready.phases
    );
    assert_eq!(
        *offsets.last().unwrap(),
        ready.ready_ns - instance.launched_ns()
    );

    let resources = instance.resources();
    assert_eq!(resources.guest_ram.len(), 1, "{resources:?}");
    assert!(resources.guest_ram[0].len >= 128 << 20, "{resources:?}");
    let memory = instance.memory().unwrap();
    let guest_ram = memory
        .guest_ram_resident_bytes
        .expect("guest RAM is reported");
    assert!(
        guest_ram >= 4 << 20,
        "touch:4 faults in at least 4 MiB of guest RAM: {guest_ram}"
    );
    assert!(
        guest_ram < 16 << 20,
        "the bare guest touches little else: {guest_ram}"
    );
    let overhead = memory.vmm_overhead_bytes.expect("VMM overhead is reported");
    assert!(
        overhead > 0 && overhead < 16 << 20,
        "VMM overhead {overhead}"
    );
    eprintln!(
        "bare guest: launch→ready {:.2} ms, phases {:?}, VMM overhead {} KiB, guest RAM resident {} KiB, PSS {} KiB",
        (ready.ready_ns - instance.launched_ns()) as f64 / 1e6,
        ready.phases,
        overhead / 1024,
        guest_ram / 1024,
        memory.pss_bytes / 1024
    );

    // Held: the guest sleeps in hlt, so the VMM burns no CPU while the benchmark measures.
    let ticks = |pid: i32| procfs::process::Process::new(pid).unwrap().stat().unwrap();
    let before = ticks(vmm.pid);
    std::thread::sleep(Duration::from_millis(500));
    let after = ticks(vmm.pid);
    let cpu_ticks = (after.utime + after.stime) - (before.utime + before.stime);
    assert!(
        cpu_ticks <= 10,
        "a held bare guest used {cpu_ticks} ticks of CPU in 0.5 s: is it polling?"
    );

    let released = Instant::now();
    instance.release().unwrap();
    instance.wait_gone(TIMEOUT).unwrap();
    eprintln!(
        "bare guest: release→gone {:.2} ms",
        released.elapsed().as_secs_f64() * 1e3
    );
    drop(instance);
    assert_all_gone(&[vmm]);
}

#[test]
fn two_hundred_launches_leave_no_vmm() {
    let _turn = one_at_a_time();
    if !kvm_ready("two_hundred_launches_leave_no_vmm") {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let isolator = MicrovmIsolator::new(VmGuest::Bare, None, None);
    let mut launcher = isolator.prepare(&Workload::noop(), scratch.path()).unwrap();
    let mut tracked = Vec::new();
    let mut startup_ns = Vec::new();
    for round in 0..200 {
        let mut instance = launcher.launch().unwrap();
        tracked.push(track(instance.resources().pids[0]));
        match round % 3 {
            // Released and awaited: the normal trial.
            0 => {
                let ready = instance.wait_ready(TIMEOUT).unwrap();
                startup_ns.push(ready.ready_ns - instance.launched_ns());
                instance.release().unwrap();
                instance.wait_gone(TIMEOUT).unwrap();
            }
            // Dropped while holding: Drop must kill and reap the VMM.
            1 => {
                instance.wait_ready(TIMEOUT).unwrap();
            }
            // Dropped while still booting.
            _ => {}
        }
    }
    assert_all_gone(&tracked);
    eprintln!(
        "bare guest over {} released trials: launch→ready median {:.2} ms, min {:.2} ms, max {:.2} ms",
        startup_ns.len(),
        median_ms(startup_ns.clone()),
        *startup_ns.iter().min().unwrap() as f64 / 1e6,
        *startup_ns.iter().max().unwrap() as f64 / 1e6
    );
}

#[test]
fn bad_input_fails_in_one_clear_line_without_hanging() {
    let _turn = one_at_a_time();
    if !kvm_ready("bad_input_fails_in_one_clear_line_without_hanging") {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let vmm = find_vmm().unwrap();
    let mut tracked = Vec::new();
    let one_line = |error: &Error| {
        let text = error.to_string();
        assert_eq!(text.lines().count(), 1, "{text}");
        text
    };

    // Random bytes as the kernel: refused at prepare, in one line, before any VMM starts.
    let random = scratch.path().join("random.bin");
    let bytes: Vec<u8> = (0..65536u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&random, bytes).unwrap();
    let isolator = MicrovmIsolator::new(VmGuest::Linux, Some(random), Some(64));
    let error = isolator
        .prepare(&Workload::noop(), scratch.path())
        .expect_err("random bytes are not a kernel");
    assert!(
        one_line(&error).contains("not a kernel image") && error.to_string().contains("random.bin"),
        "{error}"
    );
    // (The VMM's own refusal of such a file is tested in isolators/vmm/tests/errors.rs.)

    // A kernel that does not exist.
    let missing = MicrovmIsolator::new(VmGuest::Linux, Some(scratch.path().join("nope")), None);
    let error = missing
        .prepare(&Workload::noop(), scratch.path())
        .expect_err("a missing kernel is refused at prepare");
    assert!(
        one_line(&error).contains("--kernel") && error.to_string().contains("no such file"),
        "{error}"
    );

    // An initrd larger than guest memory.
    let kernel = scratch.path().join("bare.elf");
    std::fs::write(&kernel, bare_guest_elf(&BareWork::Noop)).unwrap();
    let big = std::fs::File::create(scratch.path().join("big.initrd")).unwrap();
    big.set_len(100 << 20).unwrap();
    let spec = VmSpec {
        vmm: vmm.clone(),
        guest: GuestImage {
            kernel: kernel.clone(),
            initrd: Some(scratch.path().join("big.initrd")),
            cmdline: String::new(),
            mem_mib: 16,
        },
        pit: false,
    };
    let mut instance = launch_vm(&spec, None).unwrap();
    tracked.push(track(instance.resources().pids[0]));
    let error = instance.wait_ready(TIMEOUT).unwrap_err();
    let message = one_line(&error);
    assert!(
        message.contains("larger than guest memory") || message.contains("does not fit"),
        "{error}"
    );
    drop(instance);

    // A guest that is not ready in time: Timeout, and Drop kills the VMM.
    let spec = VmSpec {
        guest: GuestImage {
            initrd: None,
            ..spec.guest
        },
        ..spec
    };
    let mut instance = launch_vm(&spec, None).unwrap();
    tracked.push(track(instance.resources().pids[0]));
    let error = instance.wait_ready(Duration::from_micros(1)).unwrap_err();
    assert!(matches!(error, Error::Timeout { .. }), "{error}");
    drop(instance);

    // A bare guest on a workload it cannot run.
    let bare = MicrovmIsolator::new(VmGuest::Bare, None, None);
    let error = bare
        .prepare(&"syscall:5".parse().unwrap(), scratch.path())
        .expect_err("the bare guest cannot make syscalls");
    assert!(one_line(&error).contains("microvm-linux"), "{error}");

    assert_all_gone(&tracked);
}

#[test]
fn linux_guest_on_software_kvm_is_unavailable_with_the_reason() {
    let host = Host::detect();
    if !host.kvm.is_software() {
        isolators::testing::skip(
            "linux_guest_on_software_kvm_is_unavailable_with_the_reason",
            &format!("this host's KVM is {}", host.kvm.provider),
        );
        return;
    }
    let isolator = MicrovmIsolator::new(VmGuest::Linux, None, None);
    match isolator.availability(&host) {
        Availability::Unavailable { reason } => {
            assert!(
                reason.contains("software") && reason.contains("hardware KVM"),
                "{reason}"
            )
        }
        Availability::Available => panic!("microvm-linux must be unavailable on software KVM"),
    }
}

/// The same bare guest, unchanged, under `qemu -M microvm`: ready line on the serial console,
/// released through serial input, ended through isa-debug-exit. With KVM where /dev/kvm works,
/// and with TCG (QEMU's own emulated interrupt controllers) always.
#[test]
fn bare_guest_boots_in_qemu_microvm() {
    let _turn = one_at_a_time();
    if !run_if(
        "bare_guest_boots_in_qemu_microvm",
        "qemu",
        check_on_path("qemu-system-x86_64"),
    ) {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let elf = scratch.path().join("bare.elf");
    std::fs::write(&elf, bare_guest_elf(&BareWork::Touch { mib: 4 })).unwrap();
    let mut accelerators = vec![vec!["-accel", "tcg"]];
    if Host::detect().kvm.problem.is_none() {
        accelerators.push(vec!["-enable-kvm", "-cpu", "host,-arch-capabilities"]);
    }
    for accelerator in accelerators {
        let started = Instant::now();
        let mut qemu = Command::new("qemu-system-x86_64")
            .args(["-M", "microvm,x-option-roms=off,isa-serial=on,rtc=off"])
            .args(&accelerator)
            .args([
                "-m",
                "128",
                "-nodefaults",
                "-no-user-config",
                "-nographic",
                "-serial",
                "stdio",
            ])
            .args([
                "-device",
                "isa-debug-exit,iobase=0xf4,iosize=0x04",
                "-kernel",
            ])
            .arg(&elf)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = qemu.stdout.take().unwrap();
        let (lines, received) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let ready = loop {
            match received.recv_timeout(TIMEOUT) {
                Ok(line) if line.contains("ISOBENCH-READY mode=bare") => {
                    break Some(started.elapsed())
                }
                Ok(_) => continue,
                Err(_) => break None,
            }
        };
        let Some(ready) = ready else {
            let _ = qemu.kill();
            let output = qemu.wait_with_output().unwrap();
            panic!(
                "qemu {accelerator:?}: no ready line; stderr: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        qemu.stdin.as_mut().unwrap().write_all(b"\n").unwrap();
        let status = isolators::reap::wait_exit(qemu.id() as i32, TIMEOUT, "qemu to exit");
        let total = started.elapsed();
        if status.is_err() {
            let _ = qemu.kill();
            let _ = qemu.wait();
        }
        // isa-debug-exit turns the guest's write of 0 into exit status (0 << 1) | 1.
        assert!(
            matches!(status, Ok(nix::sys::wait::WaitStatus::Exited(_, 1))),
            "qemu {accelerator:?} did not end through isa-debug-exit after release: {status:?}"
        );
        eprintln!(
            "qemu -M microvm {accelerator:?}: spawn→ready line {:.1} ms, spawn→exit {:.1} ms",
            ready.as_secs_f64() * 1e3,
            total.as_secs_f64() * 1e3
        );
    }
}
