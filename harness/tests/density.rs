//! `isobench density` running into real limits: a pids cgroup, and a memory cgroup, smaller
//! than the count asked for. It must stop there, say why, record how far it got and leave
//! nothing behind.
mod common;
use common::assert_no_scratch_left;

use std::path::{Path, PathBuf};
use std::process::Command;

use isolators::testing::{check_root, run_if};

/// Small enough that 60 instances cannot fit, large enough for isobench's own threads.
const PIDS_MAX: u32 = 24;

/// A fresh cgroup with one limit (cgroup v1 hierarchy of the controller, or v2 with the
/// controller enabled at the root), removed on drop.
struct LimitedCgroup(PathBuf);

impl LimitedCgroup {
    /// `files`: the limit's file name under v1, then under v2.
    fn create(
        test: &str,
        controller: &str,
        files: (&str, &str),
        limit: u64,
    ) -> Result<LimitedCgroup, String> {
        // Named after the test too: the tests of this binary run at once, in one process.
        let name = format!("isobench-{test}-{}", std::process::id());
        let v1 = Path::new("/sys/fs/cgroup").join(controller);
        let (parent, file) = if v1.join("cgroup.procs").exists() {
            (v1, files.0)
        } else {
            let root = Path::new("/sys/fs/cgroup");
            let enabled = std::fs::read_to_string(root.join("cgroup.subtree_control"))
                .map_err(|e| format!("no {controller} controller: {e}"))?;
            if !enabled.split_whitespace().any(|c| c == controller) {
                return Err(format!(
                    "the {controller} controller is not enabled for children of the root cgroup"
                ));
            }
            (root.to_path_buf(), files.1)
        };
        let dir = parent.join(name);
        std::fs::create_dir(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let cgroup = LimitedCgroup(dir);
        std::fs::write(cgroup.0.join(file), limit.to_string())
            .map_err(|e| format!("{file}: {e}"))?;
        Ok(cgroup)
    }

    /// Processes still in the cgroup.
    fn processes(&self) -> usize {
        std::fs::read_to_string(self.0.join("cgroup.procs"))
            .unwrap()
            .lines()
            .count()
    }

    /// Runs `isobench ARGS` inside the cgroup (the shell moves itself in, then becomes
    /// isobench, so everything it starts is charged there); returns the density record.
    fn run_density(&self, tmp: &Path, args: &str) -> reports::RunRecord {
        let out = tmp.join("density");
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "echo $$ > {}/cgroup.procs && exec {} density {args} --out {}",
                self.0.display(),
                env!("CARGO_BIN_EXE_isobench"),
                out.display()
            ))
            .env("TMPDIR", tmp)
            .status()
            .unwrap();
        assert!(
            status.success(),
            "density exits 0 when nothing leaked: {status}"
        );
        assert_eq!(self.processes(), 0, "nothing left in the cgroup");
        reports::RunRecord::load(&out.join("density.json")).unwrap()
    }
}

impl Drop for LimitedCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn limited(test: &str, controller: &str, files: (&str, &str), limit: u64) -> Option<LimitedCgroup> {
    if !run_if(test, "root", check_root()) {
        return None;
    }
    match LimitedCgroup::create(test, controller, files, limit) {
        Ok(cgroup) => Some(cgroup),
        Err(reason) => {
            run_if(test, "cgroup", Err(reason));
            None
        }
    }
}

#[test]
fn density_stops_at_the_pids_limit_and_cleans_up() {
    let test = "density_stops_at_the_pids_limit_and_cleans_up";
    let Some(cgroup) = limited(test, "pids", ("pids.max", "pids.max"), PIDS_MAX.into()) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let record = cgroup.run_density(
        tmp.path(),
        "-i process,container --instances 4,60 --parallel 2",
    );
    assert!(record.complete);
    for isolator in ["process", "container"] {
        let points: Vec<_> = record
            .density
            .iter()
            .filter(|p| p.isolator == isolator)
            .collect();
        assert_eq!(points.len(), 2, "{isolator}: {points:?}");
        assert_eq!(points[0].reached, 4, "{:?}", points[0]);
        assert!(points[0].stopped_because.is_none(), "{:?}", points[0]);
        let stopped = points[1];
        assert!(
            stopped.reached > 4 && stopped.reached < 60,
            "{isolator} stopped partway: {stopped:?}"
        );
        let reason = stopped.stopped_because.as_deref().unwrap_or_default();
        assert!(
            reason.contains("Resource temporarily unavailable") && reason.contains("pids limit"),
            "{isolator}: the reason names the exhausted resource: {reason:?}"
        );
        assert!(stopped.leftovers.is_empty(), "{:?}", stopped.leftovers);
        eprintln!(
            "{isolator}: reached {} of 60 under pids.max={PIDS_MAX}: {reason}",
            stopped.reached
        );
    }
    let out = tmp.path().join("density");
    assert!(
        std::fs::read_to_string(out.join("density.md"))
            .unwrap()
            .contains("## Density"),
        "the Markdown report has the density table"
    );
    assert!(out.join("index.html").is_file() && out.join("density.png").is_file());
    assert_no_scratch_left(tmp.path());
}

#[test]
fn density_stops_when_memory_runs_out_and_cleans_up() {
    let test = "density_stops_when_memory_runs_out_and_cleans_up";
    // Each probe faults in 32 MiB, more than isobench itself holds, so the OOM killer picks
    // probes; 120 MiB holds two or three of them, not twelve.
    let limit = 120u64 << 20;
    let files = ("memory.limit_in_bytes", "memory.max");
    let Some(cgroup) = limited(test, "memory", files, limit) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let record = cgroup.run_density(
        tmp.path(),
        "-i process --instances 2,12 --workload touch:32 --parallel 2",
    );
    assert_eq!(record.density.len(), 2, "{:?}", record.density);
    assert_eq!(record.density[0].reached, 2, "{:?}", record.density[0]);
    let stopped = &record.density[1];
    let reason = stopped.stopped_because.as_deref().unwrap_or_default();
    assert!(stopped.reached < 12, "{stopped:?}");
    assert!(reason.contains("out of memory"), "{reason:?}");
    assert!(stopped.leftovers.is_empty(), "{:?}", stopped.leftovers);
    eprintln!(
        "process touch:32: reached {} of 12 in 120 MiB: {reason}",
        stopped.reached
    );
    assert_no_scratch_left(tmp.path());
}

#[test]
fn density_rate_ends_at_the_last_ready_instance_and_names_the_memory_limit() {
    let test = "density_rate_ends_at_the_last_ready_instance_and_names_the_memory_limit";
    // Each probe faults in 8 MiB; 64 MiB holds isobench and a few of them. With the OOM killer
    // off for the cgroup (cgroup v1 only), the probe that meets the limit stalls until its launch
    // times out: a failed launch that waited TIMEOUT_S.
    const TIMEOUT_S: f64 = 3.0;
    let limit = 64u64 << 20;
    let files = ("memory.limit_in_bytes", "memory.max");
    let Some(cgroup) = limited(test, "memory", files, limit) else {
        return;
    };
    if std::fs::write(cgroup.0.join("memory.oom_control"), "1").is_err() {
        isolators::testing::skip(
            test,
            "needs cgroup v1's memory.oom_control to hold a probe at the limit (cgroup v2 has no OOM-killer switch)",
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let record = cgroup.run_density(
        tmp.path(),
        &format!("-i process --instances 2,20 --workload touch:8 --timeout {TIMEOUT_S}"),
    );
    assert_eq!(record.density.len(), 2, "{:?}", record.density);
    let stopped = &record.density[1];
    let reason = stopped.stopped_because.as_deref().unwrap_or_default();
    assert!(stopped.reached > 0 && stopped.reached < 20, "{stopped:?}");
    assert!(reason.contains("timed out"), "{reason:?}");
    let timeout_ns = (TIMEOUT_S * 1e9) as u64;
    assert!(
        stopped.all_ready_ns < timeout_ns,
        "all ready at the last ready instance, not after the failed launch's {TIMEOUT_S} s: {stopped:?}"
    );
    assert!(
        stopped.launches_per_second > f64::from(stopped.reached) / TIMEOUT_S,
        "the rate leaves the failed launch's wait out: {stopped:?}"
    );
    let dir = cgroup.0.display().to_string();
    assert!(
        reason.contains(&format!(
            "the memory limit of cgroup {dir} was hit: memory.failcnt +"
        )) && reason.contains(&format!("memory.limit_in_bytes {limit}")),
        "the reason quotes the cgroup files that show the limit: {reason:?}"
    );
    assert!(stopped.leftovers.is_empty(), "{:?}", stopped.leftovers);
    eprintln!(
        "process touch:8: reached {} of 20 in 64 MiB, {:.1} launches/s: {reason}",
        stopped.reached, stopped.launches_per_second
    );
    assert_no_scratch_left(tmp.path());
}
