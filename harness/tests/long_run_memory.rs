//! A long run's memory, with the real binary and real trials: peak RSS must not grow with the
//! number of trials (whole samples live in the samples log, not in memory), while the final
//! run.json and run.csv still hold every sample and the charts say they draw a subset.
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use assert_cmd::cargo::CommandCargoExt;

/// What a 20,000-trial and an 80,000-trial run may differ by in peak RSS. The columns the
/// summaries need take ~30 bytes a trial (1.8 MB for the 60,000 more); whole samples in memory
/// took ~0.9 KB a trial (54 MB).
const MAX_GROWTH_BYTES: u64 = 8 << 20;

/// Runs `runs` trials of the process baseline into `out`; returns the peak RSS in bytes.
fn peak_rss_of_run(tmp: &Path, out: &Path, runs: u32) -> u64 {
    let started = Instant::now();
    let mut child = Command::cargo_bin("isobench")
        .unwrap()
        .env("TMPDIR", tmp)
        .current_dir(tmp)
        .args(["run", "-i", "process", "--warmup", "0", "--host-batch", "0"])
        .args(["--budget", "0", "--runs", &runs.to_string(), "--out"])
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (status, peak) = wait_for_peak_rss_bytes(&mut child);
    assert_eq!(status, 0, "the {runs}-trial run failed");
    eprintln!(
        "{runs} trials in {:.1} s: peak RSS {:.1} MB",
        started.elapsed().as_secs_f64(),
        peak as f64 / 1e6
    );
    peak
}

/// Reaps `child`; its wait status and its peak RSS (rusage `ru_maxrss`, KiB) in bytes.
fn wait_for_peak_rss_bytes(child: &mut std::process::Child) -> (i32, u64) {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child's pid, with valid pointers to locals.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    (status, usage.ru_maxrss as u64 * 1024)
}

#[test]
fn peak_memory_does_not_grow_with_the_number_of_trials() {
    let tmp = tempfile::tempdir().unwrap();
    let short = peak_rss_of_run(tmp.path(), &tmp.path().join("short"), 20_000);
    let out = tmp.path().join("long");
    let long = peak_rss_of_run(tmp.path(), &out, 80_000);
    assert!(
        long < short + MAX_GROWTH_BYTES,
        "peak RSS grew from {short} to {long} bytes for 60,000 more trials"
    );

    let record = reports::RunRecord::load(&out).unwrap();
    let process = &record.isolators[0];
    assert_eq!(process.samples.len(), 80_000, "run.json holds every sample");
    assert_eq!(process.summary.as_ref().unwrap().startup_ns.n, 80_000);
    let trials: Vec<u32> = process.samples.iter().map(|s| s.trial).collect();
    assert!(trials.iter().enumerate().all(|(i, &t)| i as u32 == t));
    assert!(
        process
            .samples
            .iter()
            .all(|s| s.memory_overhead_bytes.is_some()),
        "every sample's overhead against the baseline, computed as run.json was written"
    );
    let csv = std::fs::read_to_string(out.join("run.csv")).unwrap();
    assert_eq!(
        csv.lines().count(),
        1 + 80_000,
        "run.csv has a row per sample"
    );
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(
        html.contains("process: 10,000 of 80,000 samples"),
        "the charts say they draw a subset"
    );
}
