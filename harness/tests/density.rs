//! `isobench density` running into a real limit: a pids cgroup smaller than the count asked
//! for. It must stop at the limit, say why, record how far it got and leave nothing behind.
mod common;
use common::assert_no_scratch_left;

use std::path::{Path, PathBuf};
use std::process::Command;

use isolators::testing::{check_root, run_if};

/// Small enough that 60 instances cannot fit, large enough for isobench's own threads.
const PIDS_MAX: u32 = 24;

/// A fresh pids cgroup (v1 `pids` hierarchy or v2 with the pids controller), removed on drop.
struct PidsCgroup(PathBuf);

impl PidsCgroup {
    fn create() -> Result<PidsCgroup, String> {
        let name = format!("isobench-density-test-{}", std::process::id());
        let v1 = Path::new("/sys/fs/cgroup/pids");
        let parent = if v1.join("cgroup.procs").exists() {
            v1.to_path_buf()
        } else {
            let root = Path::new("/sys/fs/cgroup");
            let enabled = std::fs::read_to_string(root.join("cgroup.subtree_control"))
                .map_err(|e| format!("no pids controller: {e}"))?;
            if !enabled.split_whitespace().any(|c| c == "pids") {
                return Err(
                    "the pids controller is not enabled for children of the root cgroup".into(),
                );
            }
            root.to_path_buf()
        };
        let dir = parent.join(name);
        std::fs::create_dir(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let cgroup = PidsCgroup(dir);
        std::fs::write(cgroup.0.join("pids.max"), PIDS_MAX.to_string())
            .map_err(|e| format!("pids.max: {e}"))?;
        Ok(cgroup)
    }

    fn current(&self) -> u32 {
        std::fs::read_to_string(self.0.join("pids.current"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

impl Drop for PidsCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn density_stops_at_the_pids_limit_and_cleans_up() {
    let test = "density_stops_at_the_pids_limit_and_cleans_up";
    if !run_if(test, "root", check_root()) {
        return;
    }
    let cgroup = match PidsCgroup::create() {
        Ok(cgroup) => cgroup,
        Err(reason) => {
            run_if(test, "cgroup", Err(reason));
            return;
        }
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("density");
    let isobench = env!("CARGO_BIN_EXE_isobench");
    // The shell moves itself into the cgroup, then becomes isobench: everything it starts
    // counts against pids.max.
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "echo $$ > {}/cgroup.procs && exec {isobench} density -i process,container --instances 4,60 --parallel 2 --out {}",
            cgroup.0.display(),
            out.display()
        ))
        .env("TMPDIR", tmp.path())
        .status()
        .unwrap();
    assert!(
        status.success(),
        "density exits 0 when nothing leaked: {status}"
    );
    let record = reports::RunRecord::load(&out.join("density.json")).unwrap();
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
    assert_eq!(cgroup.current(), 0, "nothing left in the pids cgroup");
    assert!(
        std::fs::read_to_string(out.join("density.md"))
            .unwrap()
            .contains("## Density"),
        "the Markdown report has the density table"
    );
    assert!(out.join("index.html").is_file() && out.join("density.png").is_file());
    assert_no_scratch_left(tmp.path());
}
