//! Startup of the native container launcher against `unshare(1)` with the same namespaces and
//! rootfs, measured the same way: CLOCK_MONOTONIC just before spawn → the probe's ready byte.
//!
//! `container_startup [TRIALS] [MODE]`: interleaved trials, prints medians, phases and the ratio.
//! `container_startup once ROOTFS`: one container launch on a prepared rootfs, for hyperfine.
//! `container_startup prepare DIR`: writes the probe rootfs to DIR/rootfs.
//! `container_startup nothing`: exits at once; the floor of a one-shot run of this binary.
use std::process::{Command, Stdio};
use std::time::Duration;

use isolators::container::ContainerIsolator;
use isolators::fdchannel::FdChannel;
use isolators::{monotonic_ns, Isolator, Launcher, Workload};

const TIMEOUT: Duration = Duration::from_secs(10);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("prepare") => {
            let dir = std::path::PathBuf::from(args.get(1).expect("prepare DIR"));
            let rootfs = isolators::probe::write_rootfs(&dir).expect("write the rootfs");
            println!("{}", rootfs.display());
        }
        Some("nothing") => {}
        Some("once") => {
            let rootfs = std::path::PathBuf::from(args.get(1).expect("once ROOTFS"));
            let mut container = ContainerIsolator::new()
                .prepare_rootfs(&rootfs, &Workload::noop())
                .expect("prepare");
            let mut instance = container.launch().expect("launch");
            let ready = instance.wait_ready(TIMEOUT).expect("ready");
            if std::env::var_os("SHOW_PHASES").is_some() {
                eprintln!("{:?}", ready.phases);
            }
            instance.release().expect("release");
            instance.wait_gone(TIMEOUT).expect("gone");
        }
        _ => {
            let trials: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(200);
            let mode = args.get(1).cloned().unwrap_or_else(|| "noop".into());
            compare(trials, &mode.parse::<Workload>().expect("workload"));
        }
    }
}

fn compare(trials: usize, workload: &Workload) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let mut container = ContainerIsolator::new()
        .prepare(workload, scratch.path())
        .expect("prepare");
    let rootfs = scratch.path().join("rootfs");
    let mut process = isolators::process::ProcessIsolator::default()
        .prepare(workload, scratch.path())
        .expect("prepare the process baseline");
    let (mut ours, mut theirs, mut bare) = (Vec::new(), Vec::new(), Vec::new());
    let mut phases: Vec<Vec<(String, u64)>> = Vec::new();
    let mut teardown = Vec::new();
    for trial in 0..trials + 10 {
        let mut instance = container.launch().expect("launch");
        let ready = instance.wait_ready(TIMEOUT).expect("ready");
        let released_ns = monotonic_ns();
        instance.release().expect("release");
        instance.wait_gone(TIMEOUT).expect("gone");
        let gone_ns = monotonic_ns() - released_ns;
        let unshare_ns = unshare_once(&rootfs, workload);
        let mut baseline = process.launch().expect("launch the process baseline");
        let baseline_ready = baseline.wait_ready(TIMEOUT).expect("baseline ready");
        baseline.release().expect("release");
        baseline.wait_gone(TIMEOUT).expect("gone");
        if trial >= 10 {
            bare.push(baseline_ready.ready_ns - baseline.launched_ns());
            ours.push(ready.ready_ns - instance.launched_ns());
            phases.push(ready.phases);
            teardown.push(gone_ns);
            theirs.push(unshare_ns);
        }
    }
    let (ours_ms, theirs_ms) = (
        median(&mut ours) as f64 / 1e6,
        median(&mut theirs) as f64 / 1e6,
    );
    println!("{trials} interleaved trials, workload {workload}");
    println!("container  median {ours_ms:.3} ms");
    println!("unshare    median {theirs_ms:.3} ms");
    println!(
        "process    median {:.3} ms (bare probe, the floor)",
        median(&mut bare) as f64 / 1e6
    );
    println!("ratio container/unshare {:.2}", ours_ms / theirs_ms);
    println!(
        "container teardown (release -> gone, cgroup removed) median {:.3} ms",
        median(&mut teardown) as f64 / 1e6
    );
    for (index, (name, _)) in phases[0].iter().enumerate() {
        let mut at: Vec<u64> = phases.iter().map(|p| p[index].1).collect();
        println!(
            "  phase {name:<7} median at {:.3} ms",
            median(&mut at) as f64 / 1e6
        );
    }
}

/// `unshare --fork --pid --mount --uts --ipc --net --root=ROOTFS /isobench-probe`, timed like
/// the isolators time themselves.
fn unshare_once(rootfs: &std::path::Path, workload: &Workload) -> u64 {
    let mut channel = FdChannel::new().expect("pipes");
    let mut command = Command::new("unshare");
    command.args(["--fork", "--pid", "--mount", "--uts", "--ipc", "--net"]);
    if !nix::unistd::geteuid().is_root() {
        // The same user namespace our launcher makes when not root (root mapped to us).
        command.arg("--map-root-user");
    }
    command
        .arg(format!("--root={}", rootfs.display()))
        .args([
            "/isobench-probe",
            "--mode",
            &workload.to_string(),
            "--channel",
            &channel.probe_channel_arg(),
        ])
        .env_clear()
        .stdin(Stdio::null());
    let launched_ns = monotonic_ns();
    let mut child = command.spawn().expect("spawn unshare");
    channel.close_child_ends();
    let ready = channel
        .wait_ready(launched_ns, TIMEOUT)
        .expect("unshare: ready");
    channel.release().expect("release");
    child.wait().expect("wait unshare");
    ready.ready_ns - launched_ns
}

fn median(values: &mut [u64]) -> u64 {
    values.sort_unstable();
    values[values.len() / 2]
}
