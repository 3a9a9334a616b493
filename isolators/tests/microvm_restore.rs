//! Warm starts of the bare guest on the real /dev/kvm: its snapshot round trip through
//! `isobench-vmm` (guest memory checksum equal after restore, before the guest runs; the
//! restored guest reaches ready and powers off when released), and the `microvm-restore`
//! and `microvm-restore-prestarted` isolators from prepare to gone, leaving no VMM behind.
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use isolators::microvm::guest::{bare_guest_elf, BareWork};
use isolators::microvm::{find_vmm, launch_vm_from, GuestImage, MicrovmRestoreIsolator};
use isolators::microvm::{VmSpec, VmStart};
use isolators::testing::{check_kvm_and_vmm, run_if};
use isolators::{Error, Isolator, Workload};

const TIMEOUT: Duration = Duration::from_secs(20);

fn kvm_ready(test: &str) -> bool {
    run_if(test, "kvm", check_kvm_and_vmm())
}

/// A VMM this test started, killed and reaped if the test fails before it ends.
struct Vmm(Child);

impl Drop for Vmm {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The VMM with its report on stdout (`--report-fd 1`, lines interleaved with the guest's
/// serial output, which the bare guest writes only as whole lines between report events).
fn vmm(args: &[&str]) -> Vmm {
    Vmm(Command::new(find_vmm().unwrap())
        .args(args)
        .args(["--report-fd", "1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap())
}

/// Reads stdout lines until one starts with `prefix`; returns every line read.
fn lines_until(out: &mut impl BufRead, prefix: &str) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "ended before {prefix:?}: {lines:?}"
        );
        let line = line.trim_end().to_string();
        let done = line.starts_with(prefix);
        lines.push(line);
        if done {
            return lines;
        }
    }
}

/// Sends the release byte, then checks the VMM ends cleanly through the guest's exit port.
fn release_and_finish(mut vmm: Vmm, mut out: impl BufRead) -> Vec<String> {
    vmm.0.stdin.take().unwrap().write_all(b"\n").unwrap();
    let rest = lines_until(&mut out, "exit ");
    let status = vmm.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(rest.last().unwrap(), "exit exit-port");
    rest
}

fn checksum_line(lines: &[String]) -> String {
    lines
        .iter()
        .find(|l| l.starts_with("memory-crc32 "))
        .unwrap_or_else(|| panic!("no checksum in {lines:?}"))
        .clone()
}

#[test]
fn bare_guest_snapshot_round_trip_keeps_guest_memory() {
    if !kvm_ready("bare_guest_snapshot_round_trip_keeps_guest_memory") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let kernel = dir.path().join("bare.elf");
    std::fs::write(&kernel, bare_guest_elf(&BareWork::Noop)).unwrap();
    let snapshot = dir.path().join("snapshot");
    let (kernel, snapshot_arg) = (kernel.to_str().unwrap(), snapshot.to_str().unwrap());

    let mut booted = vmm(&["--kernel", kernel, "--no-pit", "--snapshot", snapshot_arg]);
    let mut out = BufReader::new(booted.0.stdout.take().unwrap());
    let before = lines_until(&mut out, "phase snapshot");
    assert!(before.iter().any(|l| l.starts_with("ready ")), "{before:?}");
    let taken = lines_until(&mut out, "memory-crc32 ");
    let rest = release_and_finish(booted, out);
    assert!(
        rest.iter().any(|l| l == "ISOBENCH-READY mode=bare"),
        "{rest:?}"
    );

    for _ in 0..2 {
        let mut restored = vmm(&["--restore", snapshot_arg, "--verify-memory"]);
        let mut out = BufReader::new(restored.0.stdout.take().unwrap());
        let until_ready = lines_until(&mut out, "ready ");
        // The checksum is taken after the state is set and before the vCPU runs.
        let order: Vec<&str> = until_ready
            .iter()
            .map(|l| match l.split_once(' ') {
                Some(("phase", rest)) => rest.split(' ').next().unwrap(),
                Some((word, _)) => word,
                None => l.as_str(),
            })
            .collect();
        let at = |word: &str| order.iter().position(|w| *w == word).unwrap();
        assert!(at("restore-state") < at("memory-crc32") && at("memory-crc32") < at("resume"));
        assert_eq!(checksum_line(&until_ready), checksum_line(&taken));
        // The resumed guest prints its ready line (the instructions after its ready signal),
        // holds, and powers off when released: it was resumed, not booted again.
        let ready_line = lines_until(&mut out, "ISOBENCH-READY");
        assert_eq!(ready_line, ["ISOBENCH-READY mode=bare"]);
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            restored.0.try_wait().unwrap().is_none(),
            "holds until released"
        );
        release_and_finish(restored, out);
    }
}

/// A process we started, by pid and start time (a recycled pid is not it).
fn track(pid: i32) -> (i32, u64) {
    let stat = procfs::process::Process::new(pid).unwrap().stat().unwrap();
    (pid, stat.starttime)
}

fn alive(&(pid, start): &(i32, u64)) -> bool {
    procfs::process::Process::new(pid)
        .and_then(|p| p.stat())
        .is_ok_and(|stat| stat.starttime == start)
}

#[test]
fn microvm_restore_launches_resume_the_snapshot_and_leave_nothing() {
    if !kvm_ready("microvm_restore_launches_resume_the_snapshot_and_leave_nothing") {
        return;
    }
    let phases = [
        "vmm-exec",
        "snapshot-map",
        "restore-state",
        "resume",
        "guest-ready",
    ];
    launches_leave_nothing(&MicrovmRestoreIsolator::new(None), &phases);
}

/// The same launches with each VMM started ahead: the launch stamp is taken once it has
/// exec'd, so its phases start at the start byte (`restore-start`), and its exec is not in
/// startup; it is still one VMM per launch, killed and reaped however the launch ends.
#[test]
fn microvm_restore_prestarted_launches_start_their_own_vmm_and_leave_nothing() {
    if !kvm_ready("microvm_restore_prestarted_launches_start_their_own_vmm_and_leave_nothing") {
        return;
    }
    let isolator = MicrovmRestoreIsolator::prestarted(None);
    assert_eq!(isolator.name(), "microvm-restore-prestarted");
    assert!(
        isolator
            .describe()
            .notes
            .iter()
            .any(|n| n.contains("started ahead")),
        "the row says what it leaves out"
    );
    let phases = [
        "restore-start",
        "snapshot-map",
        "restore-state",
        "resume",
        "guest-ready",
    ];
    launches_leave_nothing(&isolator, &phases);
}

/// 30 launches of `isolator`: every third waits for ready, checks `phases` and the CPU the
/// VMM used, and ends cleanly; the others are dropped while held or right after the launch.
/// No VMM (each a process of its own) may be left, and no two launches share one.
fn launches_leave_nothing(isolator: &MicrovmRestoreIsolator, phases: &[&str]) {
    let scratch = tempfile::tempdir().unwrap();
    let mut launcher = isolator.prepare(&Workload::noop(), scratch.path()).unwrap();
    let disk = launcher.disk().clone();
    assert!(
        disk.image_files.iter().any(|f| f.ends_with("vm.state"))
            && disk.image_files.iter().any(|f| f.ends_with("memory")),
        "the snapshot is part of the footprint: {disk:?}"
    );
    assert!(disk.image_apparent_bytes >= 128 << 20, "{disk:?}");
    assert!(disk.image_allocated_bytes < 4 << 20, "sparse: {disk:?}");
    let mut tracked = Vec::new();
    let mut startup_ns = Vec::new();
    for round in 0..30 {
        let mut instance = launcher.launch().unwrap();
        tracked.push(track(instance.resources().pids[0]));
        match round % 3 {
            0 => {
                let ready = instance.wait_ready(TIMEOUT).unwrap();
                let names: Vec<&str> = ready.phases.iter().map(|(n, _)| n.as_str()).collect();
                assert_eq!(names, phases);
                assert_eq!(ready.report.get("mode").map(String::as_str), Some("bare"));
                assert_eq!(instance.resources().guest_ram.len(), 1);
                startup_ns.push(ready.ready_ns - instance.launched_ns());
                instance.release().unwrap();
                instance.wait_gone(TIMEOUT).unwrap();
                let cpu_ns = instance.cpu_ns().expect("the VMM's CPU, once reaped");
                assert!(cpu_ns > 0, "its exec and start-up are charged too");
            }
            // Dropped while held, and while restoring: Drop kills and reaps the VMM.
            1 => {
                instance.wait_ready(TIMEOUT).unwrap();
            }
            _ => {}
        }
    }
    let mut pids: Vec<i32> = tracked.iter().map(|t| t.0).collect();
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(pids.len(), tracked.len(), "one VMM per launch");
    let left: Vec<i32> = tracked.iter().filter(|t| alive(t)).map(|t| t.0).collect();
    assert!(left.is_empty(), "VMM processes left behind: {left:?}");
    startup_ns.sort_unstable();
    eprintln!(
        "{} over {} released trials: launch→ready median {:.2} ms",
        isolator.name(),
        startup_ns.len(),
        startup_ns[startup_ns.len() / 2] as f64 / 1e6
    );
}

#[test]
fn microvm_restore_runs_noop_only() {
    let scratch = tempfile::tempdir().unwrap();
    let isolator = MicrovmRestoreIsolator::new(None);
    let error = isolator
        .prepare(&"touch:4".parse().unwrap(), Path::new(scratch.path()))
        .expect_err("refused");
    assert!(matches!(error, Error::BadInput(_)), "{error:?}");
    let text = error.to_string();
    assert!(text.contains("noop only") && !text.contains('\n'), "{text}");
}

/// A VMM started ahead that ends before its `vmm-exec` line (here /bin/false in its place)
/// fails the launch in one line (the instance reaps it on the way, see `died`). Whether a
/// child is left is not checked here: other tests of this binary run VMMs meanwhile.
#[test]
fn a_vmm_that_ends_before_it_is_started_fails_the_launch_and_is_reaped() {
    let scratch = tempfile::tempdir().unwrap();
    let spec = VmSpec {
        vmm: "/bin/false".into(),
        guest: GuestImage {
            kernel: scratch.path().join("unused"),
            initrd: None,
            cmdline: String::new(),
            mem_mib: 128,
        },
        pit: false,
    };
    let start = VmStart::RestorePrestarted(scratch.path().join("snapshot"));
    let error = match launch_vm_from(&spec, &start, None) {
        Ok(_) => panic!("a VMM that never came up was started"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains("exited before its start byte"), "{error}");
    assert!(!error.contains('\n'), "{error}");
}
