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
    fn create(controller: &str, files: (&str, &str), limit: u64) -> Result<LimitedCgroup, String> {
        let name = format!("isobench-density-test-{controller}-{}", std::process::id());
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
    match LimitedCgroup::create(controller, files, limit) {
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
