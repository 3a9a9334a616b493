//! OCI runtime adapters (runc, crun, runsc): bundle generation, lifecycles that leave the state
//! directory empty, and launches that never get ready.
mod external_support;

use std::path::PathBuf;

use isolators::external::oci::OciIsolator;
use isolators::external::oci::{crun, runc};
use isolators::external::oci::{probe_spec, OciChannel};
use isolators::registry::IsolatorOptions;
use isolators::testing::{check_on_path, check_root, run_if};
use isolators::{Availability, Host, Isolator, Workload};
use oci_spec::runtime::{LinuxNamespaceType, Spec};

#[test]
fn bundle_round_trips_through_oci_spec() {
    let dir = tempfile::tempdir().unwrap();
    let rootfs = isolators::probe::write_rootfs(dir.path()).unwrap();
    let workload = "touch:4".parse::<Workload>().unwrap();
    let spec = probe_spec(
        &rootfs,
        &workload,
        OciChannel::PreservedFds,
        "/isobench-oci/x",
        None,
        &[],
    )
    .unwrap();
    let path = dir.path().join("config.json");
    spec.save(&path).unwrap();
    let loaded = Spec::load(&path).unwrap();
    assert_eq!(loaded, spec);
    let root = loaded.root().as_ref().unwrap();
    assert_eq!(root.path(), &rootfs);
    assert_eq!(root.readonly(), Some(true));
    let process = loaded.process().as_ref().unwrap();
    assert_eq!(
        process.args().as_ref().unwrap(),
        &[
            "/isobench-probe",
            "--mode",
            "touch:4",
            "--channel",
            "fd:3,4"
        ]
    );
    assert_eq!(process.terminal(), Some(false));
    let linux = loaded.linux().as_ref().unwrap();
    let mut kinds: Vec<LinuxNamespaceType> = linux
        .namespaces()
        .as_ref()
        .unwrap()
        .iter()
        .map(|n| n.typ())
        .collect();
    kinds.sort_by_key(|k| *k as u64);
    assert_eq!(kinds.len(), 5);
    assert!(!kinds.contains(&LinuxNamespaceType::User));
    assert_eq!(
        linux.cgroups_path().as_deref(),
        Some(std::path::Path::new("/isobench-oci/x"))
    );
}

#[test]
fn io_bundle_binds_the_instance_dir_read_write_at_tmp() {
    let dir = tempfile::tempdir().unwrap();
    let rootfs = isolators::probe::write_rootfs(dir.path()).unwrap();
    let io = "io:64".parse::<Workload>().unwrap();
    let tmp = dir.path().join("io/1");
    let spec = probe_spec(&rootfs, &io, OciChannel::Stdio, "/x", Some(&tmp), &[]).unwrap();
    let mounts = spec.mounts().as_ref().unwrap();
    let bind = mounts
        .iter()
        .find(|m| m.destination() == std::path::Path::new("/tmp"))
        .expect("a /tmp mount");
    assert_eq!(bind.typ().as_deref(), Some("bind"));
    assert_eq!(bind.source().as_deref(), Some(tmp.as_path()));
    assert_eq!(
        bind.options().as_deref(),
        Some(&["bind", "rw", "nosuid", "nodev"].map(String::from)[..])
    );
    // Other workloads get no /tmp mount at all.
    let noop = probe_spec(
        &rootfs,
        &Workload::noop(),
        OciChannel::Stdio,
        "/x",
        None,
        &[],
    )
    .unwrap();
    assert_eq!(noop.mounts().as_ref().unwrap().len(), mounts.len() - 1);
}

#[test]
fn runc_wrong_binary_is_refused() {
    let mut options = IsolatorOptions::default();
    options
        .engine_paths
        .insert("runc".into(), PathBuf::from("/bin/true"));
    let reason = match runc::runc(&options).availability(&Host::detect()) {
        Availability::Unavailable { reason } => reason,
        Availability::Available => panic!("/bin/true accepted as runc"),
    };
    assert!(
        reason.contains("/bin/true is not runc") || reason.contains("needs root"),
        "{reason}"
    );
}

#[test]
fn missing_crun_names_the_package() {
    let mut options = IsolatorOptions::default();
    options
        .engine_paths
        .insert("crun".into(), PathBuf::from("/nonexistent/crun"));
    let isolator = crun::crun(&options);
    assert!(isolator.describe().version.contains("not an executable"));
}

/// Serializes the runtime tests, so the cgroup leak check sees only finished instances.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// cgroup directories of this test process's instances, in any hierarchy.
fn leftover_cgroups() -> Vec<PathBuf> {
    let prefix = format!("isobench-{}-", std::process::id());
    let mut found = Vec::new();
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let parent = hierarchy
            .path()
            .join(isolators::external::oci::CGROUP_PARENT);
        for entry in std::fs::read_dir(&parent).into_iter().flatten().flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                found.push(entry.path());
            }
        }
    }
    found
}

fn oci_lifecycle(test: &str, engine: &str, isolator: OciIsolator, processes: u32) {
    if !run_if(test, "root", check_root()) || !run_if(test, engine, check_on_path(engine)) {
        return;
    }
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = tempfile::tempdir().unwrap();
    let (startup_ns, memory) = external_support::lifecycle(&isolator, scratch.path(), processes);
    eprintln!("{engine} startup {} µs, {memory:?}", startup_ns / 1000);
    assert!(
        memory.cgroup_bytes.is_some(),
        "no cgroup memory: {memory:?}"
    );
    assert_eq!(
        isolators::external::oci::leftover_containers(&isolators::external::oci::state_root_in(
            scratch.path()
        )),
        Vec::<String>::new()
    );
    assert_eq!(leftover_cgroups(), Vec::<PathBuf>::new());
    external_support::never_ready_cleans_up(&isolator, scratch.path());
    // Kill the runtime at several points of its set-up.
    for wait_ms in [2, 5, 10, 20, 40] {
        external_support::drop_after(
            &isolator,
            scratch.path(),
            std::time::Duration::from_millis(wait_ms),
        );
        assert_eq!(
            isolators::external::oci::leftover_containers(
                &isolators::external::oci::state_root_in(scratch.path())
            ),
            Vec::<String>::new()
        );
        assert_eq!(
            leftover_cgroups(),
            Vec::<PathBuf>::new(),
            "after {wait_ms} ms"
        );
    }
    // A probe that runs but never signals: timeout, then Drop kills the running container.
    external_support::probe_never_ready_cleans_up(&isolator, scratch.path());
    assert_eq!(
        isolators::external::oci::leftover_containers(&isolators::external::oci::state_root_in(
            scratch.path()
        )),
        Vec::<String>::new()
    );
    assert_eq!(leftover_cgroups(), Vec::<PathBuf>::new());
    external_support::io_lifecycle(&isolator, scratch.path());
    assert_eq!(
        isolators::external::oci::leftover_containers(&isolators::external::oci::state_root_in(
            scratch.path()
        )),
        Vec::<String>::new()
    );
    assert_eq!(leftover_cgroups(), Vec::<PathBuf>::new());
    // The parent cgroup the runtime made goes with the isolator.
    drop(isolator);
    assert_eq!(
        isolators::external::oci::cgroup_parent_dirs(),
        Vec::<PathBuf>::new(),
        "{engine} left its parent cgroup"
    );
}

#[test]
fn runc_lifecycle() {
    oci_lifecycle(
        "runc_lifecycle",
        "runc",
        runc::runc(&IsolatorOptions::default()),
        // `runc run` and the probe (runc init has exec'd it).
        2,
    );
}

#[test]
fn crun_lifecycle() {
    oci_lifecycle(
        "crun_lifecycle",
        "crun",
        crun::crun(&IsolatorOptions::default()),
        // `crun run` and the probe.
        2,
    );
}

#[test]
fn runsc_lifecycle() {
    oci_lifecycle(
        "runsc_lifecycle",
        "runsc",
        isolators::external::oci::runsc::runsc(&IsolatorOptions::default()),
        // `runsc run`, the gofer, the sandbox (Sentry) and its two ptrace stubs (the probe's
        // address space and the stub's parent).
        5,
    );
}
