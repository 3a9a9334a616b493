//! Nested-KVM test of the `isobench` CLI itself: `isobench run` on the container, the bare and
//! Linux microVMs and the peer VMMs' Linux rows, inside an outer Linux VM under QEMU TCG with
//! emulated SVM (this host's KVM is software and cannot run a Linux guest; there /dev/kvm is
//! real). The outer VM's /init is this test binary, selected by a test-name filter on the
//! kernel command line (isolators::testing::{outer_vm, inside_vm}); it moves the root to a
//! tmpfs (a container's pivot_root refuses the initramfs), loads kvm-amd.ko, runs the CLI,
//! checks run.json (every row measured, KVM not software) and that nothing was left behind,
//! and prints the comparison table, a verdict line and the startup ratios on the console.
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use isolators::testing::inside_vm::{self, is_inside};
use isolators::testing::outer_vm::{self, OuterImage, OuterVm};
use isolators::testing::{run_if, which};
use reports::{KvmProvider, RunRecord};

const VERDICT: &str = "NESTED-CLI-VERDICT";
const TABLE_BEGIN: &str = "NESTED-CLI-STDOUT-BEGIN";
const TABLE_END: &str = "NESTED-CLI-STDOUT-END";
/// The isolators the CLI runs inside, as a kernel command-line word (init's environment).
const ISOLATORS_ENV: &str = "ISOBENCH_NESTED_ISOLATORS";
/// Always measured inside.
const ISOLATORS: [&str; 5] = [
    "process",
    "container",
    "microvm",
    "microvm-linux",
    "qemu-microvm-linux",
];
/// Peer VMMs copied in when on the host's PATH, with their Linux-guest rows.
const PEER_VMMS: [(&str, &str); 2] = [
    ("firecracker", "firecracker-linux"),
    ("cloud-hypervisor", "cloud-hypervisor-linux"),
];
/// The rows `microvm-linux` is compared with, in the ratio line.
const PEER_LINUX_ROWS: [&str; 3] = [
    "qemu-microvm-linux",
    "firecracker-linux",
    "cloud-hypervisor-linux",
];
/// The data files QEMU opens for `-M microvm`, relative to its prefix (QEMU finds them from
/// its own path, `<bin>/../share/qemu`): the microvm firmware (qboot), as
/// `strace -f -e trace=openat qemu-system-x86_64 -M microvm …` shows on Debian 12's QEMU 7.2.
const QEMU_DATA: [&str; 1] = ["share/qemu/bios-microvm.bin"];
const RUNS: usize = 3;
/// TCG with emulated SVM is slow: the whole outer run took 35 to 50 s on our 2-core build host
/// (5 to 7 rows, 4 trials each); CI hosts may be several times slower.
const OUTER_TIMEOUT: Duration = Duration::from_secs(600);
/// Inside, `isobench run` is stopped after this long, so a hang of the run ends in a verdict
/// that says where it hangs rather than in the outer timeout.
const CLI_DEADLINE: Duration = Duration::from_secs(400);

#[test]
fn isobench_measures_every_vm_row_in_a_nested_kvm_guest() {
    let kernel_dir = outer_vm::kernel_dir();
    let test = "isobench_measures_every_vm_row_in_a_nested_kvm_guest";
    if !run_if(test, "nested", outer_vm::check_outer_vm(&kernel_dir)) {
        return;
    }
    let mut isolators: Vec<&str> = ISOLATORS.to_vec();
    let mut image = OuterImage::new(&kernel_dir, &std::env::current_exe().unwrap()).unwrap();
    image
        .executable("isobench", Path::new(env!("CARGO_BIN_EXE_isobench")))
        .unwrap();
    let qemu = which("qemu-system-x86_64").unwrap();
    image
        .executable("usr/bin/qemu-system-x86_64", &qemu)
        .unwrap();
    let prefix = qemu.parent().and_then(Path::parent).unwrap();
    for data in QEMU_DATA {
        image
            .file(&format!("usr/{data}"), &prefix.join(data), 0o644)
            .unwrap();
    }
    // ldd (a bash script) lets the disk column count QEMU's shared libraries, as on the host.
    if let (Some(bash), Some(ldd)) = (which("bash"), which("ldd")) {
        image.executable("bin/bash", &bash).unwrap();
        image.file("usr/bin/ldd", &ldd, 0o755).unwrap();
    }
    for (program, row) in PEER_VMMS {
        if let Some(path) = which(program) {
            image
                .executable(&format!("usr/bin/{program}"), &path)
                .unwrap();
            isolators.push(row);
        }
    }
    let work = tempfile::tempdir().unwrap();
    let initramfs = work.path().join("outer-initramfs.cpio");
    std::fs::write(&initramfs, image.cpio()).unwrap();
    let outer = OuterVm {
        mem_mib: 3072,
        // One vCPU: with two (multi-threaded TCG) the whole outer VM froze, console silent, in
        // 2 of 7 runs here, each time just after a cloud-hypervisor-linux guest reset; with
        // one, 10 of 10 runs passed.
        cpus: 1,
        timeout: OUTER_TIMEOUT,
    };
    let env = [format!("{ISOLATORS_ENV}={}", isolators.join(","))];
    let run = outer
        .run(&kernel_dir, &initramfs, "inside_the_outer_vm", &env)
        .unwrap();
    let table: Vec<&str> = run
        .console
        .lines()
        .skip_while(|line| !line.contains(TABLE_BEGIN))
        .skip(1)
        .take_while(|line| !line.contains(TABLE_END))
        .collect();
    eprintln!("\n`isobench run` inside the outer VM printed:\n");
    eprintln!("{}\n", table.join("\n"));
    for line in run.console.lines().filter(|l| l.starts_with("phases of ")) {
        eprintln!("{line}");
    }
    eprintln!("nested CLI run took {:.0} s", run.took.as_secs_f64());
    run.assert_passed(VERDICT);
}

/// Runs as PID 1 of the outer VM (selected by the kernel command line); a no-op elsewhere.
#[test]
fn inside_the_outer_vm() {
    if !is_inside() {
        return;
    }
    inside_vm::report_and_power_off(VERDICT, run_the_cli());
}

/// Sets the outer VM up, runs `isobench run`, checks its record and what it left behind.
fn run_the_cli() -> Result<String, String> {
    inside_vm::move_root_to_tmpfs()?;
    inside_vm::mount_kernel_filesystems(true)?;
    inside_vm::load_kvm_modules()?;
    let isolators = std::env::var(ISOLATORS_ENV).map_err(|_| format!("no {ISOLATORS_ENV}"))?;
    for dir in ["/root", "/var/cache/isobench"] {
        std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {dir}: {e}"))?;
    }
    let out = Path::new("/results");
    let mut cli = Command::new("/isobench")
        .args(["run", "-i", &isolators, "--kernel", "/vmlinuz"])
        .args([
            "--runs",
            &RUNS.to_string(),
            "--warmup",
            "1",
            "--timeout",
            "120",
            // Startup ratios are what the nested run is for; 50 Linux guests a batch would
            // take minutes under TCG.
            "--host-batch",
            "0",
        ])
        .arg("--out")
        .arg(out)
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", "/root")
        .env("TMPDIR", "/tmp")
        // The VMM embedded in isobench is extracted here.
        .env("ISOBENCH_CACHE", "/var/cache/isobench")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start /isobench: {e}"))?;
    let watchdog = inside_vm::watch(cli.id(), CLI_DEADLINE);
    let stdout = cli.stdout.take().map(|mut pipe| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut pipe, &mut text);
            text
        })
    });
    // Progress goes to the console as it comes (a pipe, so no terminal redraws).
    if let Some(stderr) = cli.stderr.take() {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            println!("isobench stderr: {line}");
        }
    }
    let status = cli.wait().map_err(|e| format!("wait for isobench: {e}"))?;
    let stdout = stdout
        .and_then(|thread| thread.join().ok())
        .unwrap_or_default();
    println!("{TABLE_BEGIN}\n{}\n{TABLE_END}", stdout.trim_end());
    if watchdog.stop() {
        return Err(format!(
            "isobench run still ran after {} s (its threads are above) and was stopped",
            CLI_DEADLINE.as_secs()
        ));
    }
    if !status.success() {
        return Err(format!("isobench run ended with {status}"));
    }
    let record = RunRecord::load(&out.join("run.json")).map_err(|e| e.to_string())?;
    let medians = check_record(&record, &isolators)?;
    print_linux_phases(&record);
    let left = leftovers()?;
    if !left.is_empty() {
        return Err(format!("left behind: {}", left.join("; ")));
    }
    let ms = |name: &str| medians.get(name).map(|ns| ns / 1e6);
    let ours = ms("microvm-linux").ok_or("no microvm-linux median")?;
    let ratios: Vec<String> = PEER_LINUX_ROWS
        .iter()
        .filter_map(|peer| {
            let theirs = ms(peer)?;
            Some(format!(
                "microvm-linux/{peer} {:.2}x ({ours:.1} ms / {theirs:.1} ms)",
                ours / theirs
            ))
        })
        .collect();
    Ok(format!(
        "{} rows measured ({RUNS} runs each) on KVM {} ({}); nothing left behind; startup medians {}; {}",
        medians.len(),
        record.host.kvm_provider.as_str(),
        record.host.kvm_detail,
        medians
            .iter()
            .map(|(name, ns)| format!("{name} {:.1} ms", ns / 1e6))
            .collect::<Vec<_>>()
            .join(", "),
        ratios.join(", ")
    ))
}

/// Every requested row measured (all runs, no failure) on a KVM that is not software; the
/// startup median of each row, ns.
fn check_record(record: &RunRecord, isolators: &str) -> Result<BTreeMap<String, f64>, String> {
    if !matches!(
        record.host.kvm_provider,
        KvmProvider::Hardware | KvmProvider::Nested
    ) {
        return Err(format!(
            "KVM inside is {} ({}), not hardware or nested",
            record.host.kvm_provider.as_str(),
            record.host.kvm_detail
        ));
    }
    let mut medians = BTreeMap::new();
    for name in isolators.split(',') {
        let row = record
            .isolator(name)
            .ok_or_else(|| format!("{name}: not in run.json"))?;
        if let Some(reason) = row.status.reason() {
            return Err(format!("{name}: not measured: {reason}"));
        }
        if let Some(failure) = row.failures.first() {
            return Err(format!(
                "{name}: {} failed trial(s), the first: {}",
                row.failures.len(),
                failure.message
            ));
        }
        let summary = row.summary.as_ref().filter(|_| row.samples.len() == RUNS);
        let summary = summary
            .ok_or_else(|| format!("{name}: {} samples, {RUNS} expected", row.samples.len()))?;
        medians.insert(name.to_string(), summary.startup_ns.median);
    }
    Ok(medians)
}

/// The phase medians of the Linux-guest rows (ms since launch), where a slow row loses time.
fn print_linux_phases(record: &RunRecord) {
    for row in record
        .isolators
        .iter()
        .filter(|r| r.name.ends_with("-linux"))
    {
        let Some(summary) = &row.summary else {
            continue;
        };
        let mut phases: Vec<(&String, &f64)> = summary.phase_medians_ns.iter().collect();
        phases.sort_by(|a, b| a.1.total_cmp(b.1));
        let phases: Vec<String> = phases
            .iter()
            .map(|(name, ns)| format!("{name} {:.1} ms", *ns / 1e6))
            .collect();
        // The guest kernel's own clock (CLOCK_BOOTTIME) when the probe started as /init.
        let mut boottimes: Vec<f64> = row
            .samples
            .iter()
            .filter_map(|s| s.probe_report.get("init_boottime_ns")?.parse().ok())
            .collect();
        boottimes.sort_by(f64::total_cmp);
        let boottime = boottimes
            .get(boottimes.len() / 2)
            .map(|ns| format!("; guest boot time at /init {:.1} ms", ns / 1e6))
            .unwrap_or_default();
        println!(
            "phases of {} (medians since launch): {}; ready {:.1} ms{boottime}",
            row.name,
            phases.join(", "),
            summary.startup_ns.median / 1e6
        );
    }
}

/// What a run must not leave: its processes (probe, VMMs), cgroups, scratch dirs and mounts.
fn leftovers() -> Result<Vec<String>, String> {
    let mut left = inside_vm::processes_named(&[
        "isobench-probe",
        "isobench-vmm",
        "qemu",
        "firecracker",
        "cloud-hyperviso",
    ])?;
    let mut cgroups = vec![Path::new("/sys/fs/cgroup").to_path_buf()];
    while let Some(dir) = cgroups.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                if entry.file_name().to_string_lossy().starts_with("isobench") {
                    left.push(format!("cgroup {}", entry.path().display()));
                }
                cgroups.push(entry.path());
            }
        }
    }
    let tmp = std::fs::read_dir("/tmp").map_err(|e| format!("read /tmp: {e}"))?;
    for entry in tmp.flatten() {
        if entry.file_name().to_string_lossy().starts_with("isobench-") {
            left.push(format!("scratch dir {}", entry.path().display()));
        }
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    left.extend(
        mounts
            .lines()
            .filter(|line| line.contains("isobench"))
            .map(|line| format!("mount {line}")),
    );
    Ok(left)
}
