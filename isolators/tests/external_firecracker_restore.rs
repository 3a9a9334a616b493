//! `firecracker-restore` on the real /dev/kvm with a Firecracker found on PATH: prepare boots
//! the bare guest once and snapshots it through the API socket; each launch is a new
//! Firecracker loading that snapshot, ready when it answers, and the resumed guest powers off
//! when released. Nothing is left behind: processes, API sockets, cgroups.
mod external_support;

use std::path::Path;
use std::time::Duration;

use isolators::external::vmms::firecracker_restore::firecracker_restore;
use isolators::registry::IsolatorOptions;
use isolators::testing::{check_on_path, run_if};
use isolators::{Host, Isolator, Workload};

const TIMEOUT: Duration = Duration::from_secs(60);

fn ready_to_run(test: &str) -> bool {
    let kvm = match Host::detect().kvm.problem {
        None => Ok(()),
        Some(problem) => Err(problem),
    };
    run_if(test, "kvm", kvm) && run_if(test, "firecracker", check_on_path("firecracker"))
}

fn sockets_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".sock"))
        .collect()
}

#[test]
fn firecracker_restore_lifecycle() {
    if !ready_to_run("firecracker_restore_lifecycle") {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let isolator = firecracker_restore(&IsolatorOptions::default());
    assert!(isolator.availability(&Host::detect()).is_available());
    let mut launcher = isolator.prepare(&Workload::noop(), scratch.path()).unwrap();
    let disk = launcher.disk().clone();
    assert!(
        disk.image_files.iter().any(|f| f.ends_with("vm.snap"))
            && disk.image_files.iter().any(|f| f.ends_with("vm.mem")),
        "the snapshot is part of the footprint: {disk:?}"
    );
    assert!(disk.image_apparent_bytes >= 128 << 20, "{disk:?}");
    assert!(
        sockets_in(scratch.path()).is_empty(),
        "prepare's socket removed"
    );
    for _ in 0..3 {
        let mut instance = launcher.launch().unwrap();
        let ready = instance.wait_ready(TIMEOUT).unwrap();
        let names: Vec<&str> = ready.phases.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["api-socket", "snapshot-load"]);
        assert_eq!(
            ready.phases.last().unwrap().1,
            ready.ready_ns - instance.launched_ns()
        );
        let resources = instance.resources();
        assert_eq!(
            resources.guest_ram.len(),
            1,
            "the mapped vm.mem: {resources:?}"
        );
        let memory = instance.memory().unwrap();
        assert!(memory.pss_bytes > 0, "{memory:?}");
        // The resumed guest sleeps in hlt until its release byte, then powers off through the
        // i8042 and Firecracker exits 0: wait_gone fails otherwise.
        instance.release().unwrap();
        instance.wait_gone(TIMEOUT).unwrap();
        for pid in &resources.pids {
            assert!(
                !Path::new(&format!("/proc/{pid}")).exists(),
                "firecracker {pid} still running"
            );
        }
        eprintln!(
            "firecracker-restore: launch→ready {:.2} ms",
            (ready.ready_ns - instance.launched_ns()) as f64 / 1e6
        );
    }
    assert!(sockets_in(scratch.path()).is_empty(), "API sockets removed");
    external_support::never_ready_cleans_up(&isolator, scratch.path());
    assert!(
        sockets_in(scratch.path()).is_empty(),
        "API sockets removed on drop"
    );
}

#[test]
fn firecracker_restore_runs_noop_only() {
    let scratch = tempfile::tempdir().unwrap();
    let isolator = firecracker_restore(&IsolatorOptions::default());
    let error = isolator
        .prepare(&"touch:4".parse().unwrap(), scratch.path())
        .expect_err("refused");
    assert!(error.to_string().contains("noop only"), "{error}");
}
