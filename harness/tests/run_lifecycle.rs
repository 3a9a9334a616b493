//! A run's life as a hostile user would test it, with the real binary and real processes: two
//! runs at once, output paths checked before the first trial, exit status when trials fail,
//! checkpoints whose disk cost does not grow with the run, and a run killed with SIGKILL.
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;

fn isobench(tmp: &Path) -> Command {
    let mut cmd = Command::cargo_bin("isobench").unwrap();
    cmd.env("TMPDIR", tmp).current_dir(tmp);
    cmd
}

/// A quick run of the process baseline alone.
fn quick_run(tmp: &Path, runs: u32) -> Command {
    let mut cmd = isobench(tmp);
    cmd.args(["run", "-i", "process", "--warmup", "0", "--host-batch", "0"])
        .args(["--runs", &runs.to_string()]);
    cmd
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Exit status 1 and exactly one line on stderr, containing `needle`.
fn assert_one_line_failure(output: &Output, needle: &str) {
    let text = stderr(output);
    assert_eq!(output.status.code(), Some(1), "stderr: {text}");
    assert_eq!(text.trim_end().lines().count(), 1, "one line: {text}");
    assert!(text.contains(needle), "{needle:?} in: {text}");
}

/// Sleeps until just after the start of a wall-clock second, so that two runs started now
/// share the default `results/<second>` name.
fn wait_for_a_fresh_second() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    std::thread::sleep(Duration::from_nanos(
        1_000_000_000 - u64::from(now.subsec_nanos()) + 20_000_000,
    ));
}

fn load(dir: &Path) -> reports::RunRecord {
    reports::RunRecord::load(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

#[test]
fn two_runs_started_in_the_same_second_keep_their_own_directories() {
    let tmp = tempfile::tempdir().unwrap();
    wait_for_a_fresh_second();
    let mut first = quick_run(tmp.path(), 3).spawn().unwrap();
    let mut second = quick_run(tmp.path(), 5).spawn().unwrap();
    assert!(first.wait().unwrap().success());
    assert!(second.wait().unwrap().success());
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(tmp.path().join("results"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    assert_eq!(dirs.len(), 2, "one directory per run: {dirs:?}");
    let mut runs: Vec<(u32, usize)> = dirs
        .iter()
        .map(|dir| {
            let record = load(dir);
            (record.config.runs, record.isolators[0].samples.len())
        })
        .collect();
    runs.sort();
    assert_eq!(runs, [(3, 3), (5, 5)], "each run's own samples");
}

#[test]
fn two_runs_into_one_out_directory_never_mix() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("shared");
    let spawn = |runs| {
        quick_run(tmp.path(), runs)
            .arg("--out")
            .arg(&out)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first, second) = (spawn(3), spawn(5));
    let outputs = [
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    ];
    let succeeded: Vec<usize> = (0..2).filter(|&i| outputs[i].status.success()).collect();
    assert_eq!(succeeded.len(), 1, "exactly one run may write there");
    let refused = &outputs[1 - succeeded[0]];
    let text = stderr(refused);
    assert_eq!(refused.status.code(), Some(1), "{text}");
    assert!(
        text.contains("another isobench is writing") || text.contains("already holds a run"),
        "{text}"
    );
    let record = load(&out);
    let runs = [3, 5][succeeded[0]];
    assert_eq!(record.config.runs, runs);
    assert_eq!(record.isolators[0].samples.len(), runs as usize);

    // Afterwards the directory is refused, unless --force.
    let again = quick_run(tmp.path(), 2)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_one_line_failure(&again, "pass --force");
    let forced = quick_run(tmp.path(), 2)
        .arg("--out")
        .arg(&out)
        .arg("--force")
        .output()
        .unwrap();
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert_eq!(load(&out).isolators[0].samples.len(), 2);
}

#[test]
fn a_bad_export_path_fails_before_the_first_trial() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    for (flag, path) in [
        ("--export-csv", "/nonexistent-isobench-dir/x.csv"),
        ("--export-json", "/proc/isobench.json"),
        ("--html", "/proc/isobench-html"),
    ] {
        let started = Instant::now();
        let output = quick_run(tmp.path(), 1000)
            .arg("--out")
            .arg(&out)
            .args([flag, path])
            .output()
            .unwrap();
        assert_one_line_failure(&output, &format!("{flag} {path}"));
        assert!(!out.exists(), "{flag}: no run directory, no trial");
        assert!(started.elapsed() < Duration::from_secs(10), "{flag}: fast");
    }
}

#[test]
fn a_run_whose_trials_all_fail_exits_1_and_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    // A real failure: no probe signals ready within 10 µs.
    let output = quick_run(tmp.path(), 2)
        .args(["--timeout", "0.00001", "--out"])
        .arg(tmp.path().join("out"))
        .output()
        .unwrap();
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("isobench: process: 0 samples, 2 failed: timed out"),
        "{text}"
    );
    assert!(
        text.contains("no samples, every trial failed: process"),
        "{text}"
    );
}

#[test]
fn sizes_the_probe_or_the_vmm_cannot_take_are_refused_before_any_trial() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let output = quick_run(tmp.path(), 2)
        .args(["--workload", "touch:1000000", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_one_line_failure(
        &output,
        "--workload touch:1000000: the probe would allocate",
    );
    for workload in ["mem:0", "touch:999999999"] {
        let output = quick_run(tmp.path(), 2)
            .args(["--workload", workload, "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert_one_line_failure(&output, workload);
    }
    let output = isobench(tmp.path())
        .args(["run", "-i", "microvm", "--mem-mib", "100000000", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("16..=65536"),
        "{}",
        stderr(&output)
    );
    assert!(!out.exists(), "nothing ran");
}

/// Bytes this child wrote to storage over its life, from its rusage (512-byte blocks).
fn wait_for_written_bytes(child: &mut std::process::Child) -> (i32, u64) {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child's pid, with valid pointers to locals.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    (status, usage.ru_oublock as u64 * 512)
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

/// Rewriting the whole record at every checkpoint made the bytes written grow with the square
/// of the run; appending samples and rewriting only the summary keeps them near the size of
/// what the run leaves on disk.
#[test]
fn checkpoints_write_about_what_the_run_keeps() {
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let out = tmp.path().join("out");
    let started = Instant::now();
    let mut child = quick_run(tmp.path(), 6000)
        .args(["--budget", "0", "--out"])
        .arg(&out)
        .stderr(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let (status, written) = wait_for_written_bytes(&mut child);
    assert_eq!(status, 0);
    let kept = dir_bytes(&out);
    eprintln!(
        "6000 trials in {:.1} s: {written} bytes written, {kept} bytes kept",
        started.elapsed().as_secs_f64()
    );
    assert!(
        written >= kept / 2,
        "the kernel accounted only {written} bytes written for {kept} bytes kept: this \
         filesystem does not count writes (tmpfs?); set CARGO_TARGET_TMPDIR to a disk"
    );
    assert!(
        written < 2 * kept,
        "{written} bytes written for {kept} bytes of results"
    );
    assert_eq!(load(&out).isolators[0].samples.len(), 6000);
}

/// A child killed (SIGKILL) and reaped if the test ends early.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Removes the instance cgroups a SIGKILLed isobench (`pid`) could not remove itself (that
/// clean-up after a crash is not what this test checks), killing what is still in them.
fn remove_cgroups_of(pid: u32) {
    let prefix = format!("{pid}-");
    let mut stack = vec![PathBuf::from("/sys/fs/cgroup")];
    let mut leftovers = Vec::new();
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten().filter(|e| e.path().is_dir()) {
            let name = entry.file_name().to_string_lossy().into_owned();
            match dir.ends_with("isobench") && name.starts_with(&prefix) {
                true => leftovers.push(entry.path()),
                false => stack.push(entry.path()),
            }
        }
    }
    for cgroup in leftovers {
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::fs::remove_dir(&cgroup).is_err() && Instant::now() < deadline {
            let procs = std::fs::read_to_string(cgroup.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.lines().filter_map(|l| l.parse::<i32>().ok()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Complete lines of the samples log.
fn log_lines(dir: &Path) -> usize {
    std::fs::read(dir.join("samples.jsonl"))
        .map(|bytes| bytes.iter().filter(|&&b| b == b'\n').count())
        .unwrap_or(0)
}

#[test]
fn a_run_killed_with_sigkill_leaves_every_finished_sample_readable() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut child = KillOnDrop(
        quick_run(tmp.path(), 100_000)
            .args(["--budget", "0", "--out"])
            .arg(&out)
            .stderr(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while log_lines(&out) < 300 {
        assert!(Instant::now() < deadline, "no samples logged in 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    remove_cgroups_of(child.0.id());
    let logged = log_lines(&out);
    let record = load(&out);
    assert!(!record.complete);
    assert_eq!(record.isolators[0].samples.len(), logged);
    let report = isobench(tmp.path())
        .arg("report")
        .arg(&out)
        .output()
        .unwrap();
    assert!(report.status.success(), "{}", stderr(&report));
}

#[test]
fn density_refuses_an_out_directory_that_holds_a_run() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("held");
    let run = quick_run(tmp.path(), 2)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    let density = |extra: &[&str]| {
        isobench(tmp.path())
            .args(["density", "-i", "process", "--instances", "2", "--out"])
            .arg(&out)
            .args(extra)
            .output()
            .unwrap()
    };
    assert_one_line_failure(
        &density(&[]),
        "already holds a run (run.json, samples.jsonl)",
    );
    assert_eq!(load(&out).config.runs, 2, "the run is untouched");
    let forced = density(&["--force"]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert!(!out.join("run.json").exists() && out.join("density.json").exists());
}
