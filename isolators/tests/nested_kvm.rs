//! Nested-KVM test: the `microvm-linux` isolator boots Debian's cloud kernel with the probe
//! as /init on a real /dev/kvm — inside an outer Linux VM under QEMU TCG with emulated SVM,
//! since this host's KVM is software (kvm_pvm) and cannot run a Linux guest.
//!
//! The outer VM's /init is this very test binary (with the shared libraries it loads), run
//! with a filter that selects `inside_the_outer_vm`: it loads kvm-amd.ko and the modules it
//! depends on (the cache's `modules/order`, written by scripts/fetch-guest-kernel.sh from the
//! kernel's modules.dep; irqbypass.ko, kvm.ko, kvm-amd.ko for a cache that predates it),
//! drives the isolator code path (prepare, launch, ready, memory, release, gone), checks that
//! no VMM process is left, and prints a verdict line on the serial console.
use std::path::{Path, PathBuf};
use std::time::Duration;

use isolators::microvm::cpio::{self, Entry};
use isolators::microvm::{find_vmm, MicrovmIsolator, VmGuest};
use isolators::testing::run_if;
use isolators::{Host, Isolator, Workload};

const VERDICT: &str = "NESTED-KVM-VERDICT";
/// The whole outer run took about 25 s on our 2-core build host (TCG, emulated SVM); CI hosts
/// may be several times slower.
const OUTER_TIMEOUT: Duration = Duration::from_secs(300);
/// The KVM modules to load, in order, when the cache has no `modules/order`.
const FALLBACK_MODULES: [&str; 3] = ["irqbypass.ko", "kvm.ko", "kvm-amd.ko"];

/// The modules the outer VM loads, in order: the cache's `modules/order` without kvm-intel.ko
/// (the outer CPU is an AMD EPYC with SVM), else [`FALLBACK_MODULES`].
fn modules_to_load(kernel_dir: &Path) -> Vec<String> {
    match std::fs::read_to_string(kernel_dir.join("modules/order")) {
        Ok(order) => order
            .lines()
            .map(str::trim)
            .filter(|name| !name.is_empty() && *name != "kvm-intel.ko")
            .map(String::from)
            .collect(),
        Err(_) => FALLBACK_MODULES.map(String::from).into(),
    }
}

#[test]
fn microvm_linux_boots_in_a_nested_kvm_guest() {
    let kernel_dir = isolators::microvm::guest::cache_dir().join("kernel");
    let ready = (|| {
        isolators::testing::check_on_path("qemu-system-x86_64")?;
        let modules = modules_to_load(&kernel_dir);
        let files = modules.iter().map(|name| format!("modules/{name}"));
        for file in std::iter::once("vmlinuz".to_string()).chain(files) {
            if !kernel_dir.join(&file).is_file() {
                return Err(format!(
                    "{} missing — run scripts/fetch-guest-kernel.sh",
                    kernel_dir.join(file).display()
                ));
            }
        }
        find_vmm().map(|_| ()).map_err(|e| e.to_string())
    })();
    if !run_if("microvm_linux_boots_in_a_nested_kvm_guest", "nested", ready) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let initramfs = work.path().join("outer-initramfs.cpio");
    std::fs::write(&initramfs, outer_initramfs(&kernel_dir)).unwrap();
    let started = std::time::Instant::now();
    let output = std::process::Command::new("timeout")
        .arg(OUTER_TIMEOUT.as_secs().to_string())
        .arg("qemu-system-x86_64")
        .args(["-accel", "tcg", "-cpu", "EPYC,+svm", "-smp", "1", "-m", "1024"])
        .args(["-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio", "-no-reboot"])
        .arg("-kernel")
        .arg(kernel_dir.join("vmlinuz"))
        .arg("-initrd")
        .arg(&initramfs)
        .args(["-append", "console=ttyS0 panic=-1 loglevel=4 rdinit=/init ISOBENCH_NESTED_INSIDE=1 -- inside_the_outer_vm --exact --nocapture --test-threads=1"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let console = String::from_utf8_lossy(&output.stdout);
    let verdict = console.lines().find(|l| l.contains(VERDICT));
    eprintln!("nested run took {:.0} s", started.elapsed().as_secs_f64());
    match verdict {
        Some(line) if line.contains("PASS") => eprintln!("{line}"),
        _ => panic!(
            "no PASS verdict from the outer VM (exit {:?}); its console:\n{console}",
            output.status.code()
        ),
    }
}

/// Runs as PID 1 of the outer VM (selected by the kernel command line); a no-op elsewhere.
#[test]
fn inside_the_outer_vm() {
    if std::env::var_os("ISOBENCH_NESTED_INSIDE").is_none() || std::process::id() != 1 {
        return;
    }
    let verdict = match drive_isolator() {
        Ok(summary) => format!("{VERDICT} PASS {summary}"),
        Err(error) => format!("{VERDICT} FAIL {error}"),
    };
    println!("{verdict}");
    // Power the outer VM off (ACPI on QEMU's pc machine). Should that fail, returning ends
    // PID 1, the kernel panics, and panic=-1 with -no-reboot ends QEMU all the same.
    // SAFETY: reboot(2) takes a plain command word; as PID 1 we may power the machine off.
    unsafe {
        libc::sync();
        libc::reboot(libc::RB_POWER_OFF);
    }
}

fn drive_isolator() -> Result<String, String> {
    use nix::mount::{mount, MsFlags};
    for (source, target, fstype) in [
        ("proc", "/proc", "proc"),
        ("sysfs", "/sys", "sysfs"),
        ("devtmpfs", "/dev", "devtmpfs"),
    ] {
        mount(
            Some(source),
            target,
            Some(fstype),
            MsFlags::empty(),
            None::<&str>,
        )
        .map_err(|e| format!("mount {target}: {e}"))?;
    }
    let order =
        std::fs::read_to_string("/modules/order").map_err(|e| format!("/modules/order: {e}"))?;
    for module in order.lines() {
        let file = std::fs::File::open(format!("/modules/{module}"))
            .map_err(|e| format!("{module}: {e}"))?;
        nix::kmod::finit_module(&file, c"", nix::kmod::ModuleInitFlags::empty())
            .map_err(|e| format!("load {module}: {e}"))?;
    }
    std::env::set_var("ISOBENCH_VMM", "/isobench-vmm");
    let host = Host::detect();
    let isolator = MicrovmIsolator::new(VmGuest::Linux, Some(PathBuf::from("/vmlinuz")), Some(256));
    if let isolators::Availability::Unavailable { reason } = isolator.availability(&host) {
        return Err(format!(
            "microvm-linux unavailable inside the outer VM: {reason} (KVM: {})",
            host.kvm.provider
        ));
    }
    let scratch = Path::new("/tmp/isobench-nested");
    std::fs::create_dir_all(scratch).map_err(|e| e.to_string())?;
    // touch:8 checks that the workload reaches the probe through the kernel command line.
    let mut launcher = isolator
        .prepare(&"touch:8".parse::<Workload>().unwrap(), scratch)
        .map_err(|e| format!("prepare: {e}"))?;
    let timeout = Duration::from_secs(240);
    let mut instance = launcher.launch().map_err(|e| format!("launch: {e}"))?;
    let ready = instance
        .wait_ready(timeout)
        .map_err(|e| format!("ready: {e}"))?;
    let startup_ms = (ready.ready_ns - instance.launched_ns()) as f64 / 1e6;
    if ready.report.get("held_bytes").map(String::as_str) != Some("8388608") {
        return Err(format!(
            "the probe did not run touch:8: it said {:?}",
            ready.report
        ));
    }
    let memory = instance.memory().map_err(|e| format!("memory: {e}"))?;
    if memory.guest_ram_resident_bytes.unwrap_or(0) < 8 << 20
        || memory.vmm_overhead_bytes.unwrap_or(0) == 0
    {
        return Err(format!("implausible memory split: {memory:?}"));
    }
    instance.release().map_err(|e| format!("release: {e}"))?;
    instance
        .wait_gone(timeout)
        .map_err(|e| format!("power-off: {e}"))?;
    drop(instance);
    // A second VM dropped while its kernel boots: Drop must kill and reap the VMM.
    let booting = launcher
        .launch()
        .map_err(|e| format!("second launch: {e}"))?;
    std::thread::sleep(Duration::from_millis(200));
    drop(booting);
    let leftovers: Vec<String> = procfs::process::all_processes()
        .map_err(|e| e.to_string())?
        .filter_map(|p| p.ok()?.stat().ok())
        .filter(|stat| stat.comm.contains("isobench-vmm"))
        .map(|stat| format!("{} ({}, state {})", stat.pid, stat.comm, stat.state))
        .collect();
    if !leftovers.is_empty() {
        return Err(format!("VMM processes left: {leftovers:?}"));
    }
    let phases: Vec<String> = ready
        .phases
        .iter()
        .map(|(name, ns)| format!("{name}={:.1}ms", *ns as f64 / 1e6))
        .collect();
    Ok(format!(
        "launch→ready {startup_ms:.1} ms (KVM {}; {}), probe said {:?}, VMM overhead {} KiB, guest RAM resident {} KiB",
        host.kvm.provider,
        phases.join(" "),
        ready.report,
        memory.vmm_overhead_bytes.unwrap_or(0) / 1024,
        memory.guest_ram_resident_bytes.unwrap_or(0) / 1024
    ))
}

/// The outer VM's initramfs: this test binary as /init, isobench-vmm, the guest kernel, the
/// KVM modules with `modules/order`, and every shared library those two executables load.
fn outer_initramfs(kernel_dir: &Path) -> Vec<u8> {
    let test_binary = std::env::current_exe().unwrap();
    let vmm = find_vmm().unwrap();
    let mut files: Vec<(String, Vec<u8>, u32)> = vec![
        ("init".into(), std::fs::read(&test_binary).unwrap(), 0o755),
        ("isobench-vmm".into(), std::fs::read(&vmm).unwrap(), 0o755),
        (
            "vmlinuz".into(),
            std::fs::read(kernel_dir.join("vmlinuz")).unwrap(),
            0o644,
        ),
    ];
    let modules = modules_to_load(kernel_dir);
    for module in &modules {
        files.push((
            format!("modules/{module}"),
            std::fs::read(kernel_dir.join("modules").join(module)).unwrap(),
            0o644,
        ));
    }
    // What the outer VM loads, in this order (see `modules_to_load`).
    let order: String = modules.iter().map(|m| format!("{m}\n")).collect();
    files.push(("modules/order".into(), order.into_bytes(), 0o644));
    let mut libraries: Vec<PathBuf> = isolators::disk::shared_libraries(&test_binary);
    libraries.extend(isolators::disk::shared_libraries(&vmm));
    libraries.sort();
    libraries.dedup();
    for library in libraries {
        let bytes = std::fs::read(&library).unwrap();
        files.push((
            library
                .to_string_lossy()
                .trim_start_matches('/')
                .to_string(),
            bytes,
            0o755,
        ));
    }
    let mut directories: Vec<String> = ["dev", "proc", "sys", "tmp", "modules"]
        .map(String::from)
        .into();
    for (path, _, _) in &files {
        let mut parent = Path::new(path).parent();
        while let Some(dir) = parent.filter(|d| !d.as_os_str().is_empty()) {
            directories.push(dir.to_string_lossy().into_owned());
            parent = dir.parent();
        }
    }
    directories.sort();
    directories.dedup();
    let mut entries: Vec<Entry> = directories.iter().map(|d| Entry::dir(d, 0o755)).collect();
    entries.push(Entry::DEV_CONSOLE);
    entries.extend(
        files
            .iter()
            .map(|(path, data, mode)| Entry::file(path, *mode, data)),
    );
    cpio::archive(&entries)
}
