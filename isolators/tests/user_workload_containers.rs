//! A user's rootfs under every non-VM isolator (container, crun, runc, runsc, bwrap, unshare,
//! lxc, docker, podman; the process baseline on the host's root only), with a busybox-static
//! tree made here: the instance runs from a copy of the tree with the probe in it, gets a
//! read-only root with a writable tmpfs at /tmp and /run, becomes ready, and leaves nothing —
//! no process, no mount, no container, no image, and nothing written into the user's tree.
//! Then the probe's `exec` mode in each: busybox httpd ready on `tcp:PORT`, `sha256sum` of a
//! file ready on `exit:0`, and a command that ignores SIGTERM stopped by SIGKILL after its
//! grace, ready on `file:/tmp/…` (the writable tmpfs).
mod external_support;
mod user_workload_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use isolators::container::ContainerIsolator;
use isolators::external::engines::{docker::docker, podman::podman};
use isolators::external::lxc::LxcIsolator;
use isolators::external::oci::{crun::crun, runc::runc, runsc::runsc};
use isolators::external::rootfs::{bwrap::BwrapIsolator, unshare::UnshareIsolator};
use isolators::process::ProcessIsolator;
use isolators::protocol::ReadyCheck;
use isolators::testing::{check_on_path, check_root, mounts_naming, run_if};
use isolators::{Availability, Host, Isolator, Workload};
use user_workload_support::{
    busybox_tree, httpd_options, listing, runs_the_users_command, runs_these, scenarios,
    user_options, BUSYBOX,
};

fn gate(test: &str, capability: &str, check: Result<(), String>) -> bool {
    run_if(test, "root", check_root()) && run_if(test, capability, check)
}

/// The probe's host pid among `pids` (none under runsc, whose probe runs in its Sentry).
fn probe_pid(pids: &[i32]) -> Option<i32> {
    pids.iter().copied().find(|pid| {
        std::fs::read_link(format!("/proc/{pid}/exe"))
            .is_ok_and(|exe| exe.ends_with(isolators::probe::PROBE_NAME))
    })
}

/// (mount point, fs type, options) of every mount `pid` sees.
fn mounts_of(pid: i32) -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    text.lines()
        .map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let after = fields.iter().position(|f| *f == "-").unwrap();
            (
                fields[4].to_string(),
                fields[after + 1].to_string(),
                fields[5].to_string(),
            )
        })
        .collect()
}

/// prepare (the probe's noop mode over the user's tree) → ready → release → gone, twice, then
/// a drop while holding; checks the instance's root and mounts where the probe is a host
/// process, the disk footprint, and that nothing is left and the tree is untouched.
fn runs_the_users_tree(isolator: &dyn Isolator, probe_on_host: bool) {
    let tree = busybox_tree();
    let before = listing(tree);
    let scratch = tempfile::tempdir().unwrap();
    let availability = isolator.availability(&Host::detect());
    assert!(availability.is_available(), "{availability:?}");
    let mut launcher = isolator.prepare(&Workload::noop(), scratch.path()).unwrap();
    let disk = launcher.disk().clone();
    let busybox_bytes = std::fs::metadata(BUSYBOX).unwrap().len();
    assert!(
        disk.image_apparent_bytes >= busybox_bytes + (1 << 20),
        "the image counts the user's tree: {disk:?}"
    );
    for released in [true, true, false] {
        let mut instance = launcher.launch().unwrap();
        let ready = instance.wait_ready(Duration::from_secs(60)).unwrap();
        assert_eq!(ready.report.get("mode").map(String::as_str), Some("noop"));
        let startup_us = (ready.ready_ns - instance.launched_ns()) / 1000;
        eprintln!(
            "{}: the user's tree ready in {startup_us} µs",
            isolator.name()
        );
        let resources = instance.resources();
        match (probe_on_host, probe_pid(&resources.pids)) {
            (true, Some(pid)) => {
                let root = PathBuf::from(format!("/proc/{pid}/root"));
                assert!(root.join("bin/busybox").is_file(), "not the user's tree");
                assert!(root.join("www/index.html").is_file());
                let mounts = mounts_of(pid);
                for dir in ["/tmp", "/run"] {
                    assert!(
                        mounts.iter().any(|(at, fs, opts)| at == dir
                            && fs == "tmpfs"
                            && opts.starts_with("rw")),
                        "no writable tmpfs at {dir}: {mounts:?}"
                    );
                }
                let root_mount = mounts.iter().rev().find(|(at, _, _)| at == "/").unwrap();
                assert!(root_mount.2.starts_with("ro"), "root: {root_mount:?}");
            }
            (true, None) => panic!("no probe among {:?}", resources.pids),
            (false, _) => {}
        }
        if released {
            instance.release().unwrap();
            instance.wait_gone(Duration::from_secs(60)).unwrap();
        }
        drop(instance);
        external_support::assert_nothing_runs_from(scratch.path());
        assert_eq!(mounts_naming(scratch.path()), Vec::<String>::new());
    }
    drop(launcher);
    assert_eq!(listing(tree), before, "the user's tree was written to");
    assert!(!tree.join(isolators::probe::PROBE_NAME).exists());
}

#[test]
fn container_runs_the_users_tree() {
    if !run_if("container_runs_the_users_tree", "root", check_root()) {
        return;
    }
    let options = httpd_options(18081);
    let container = ContainerIsolator::new().with_user(options.user.clone());
    runs_the_users_tree(&container, true);
    runs_the_users_command(&|options| {
        Box::new(ContainerIsolator::new().with_user(options.user.clone()))
    });
}

#[test]
fn bwrap_and_unshare_run_the_users_tree() {
    let options = httpd_options(18082);
    if gate("bwrap_runs_the_users_tree", "bwrap", check_on_path("bwrap")) {
        runs_the_users_tree(&BwrapIsolator::new(&options), true);
        runs_the_users_command(&|options| Box::new(BwrapIsolator::new(options)));
    }
    if gate(
        "unshare_runs_the_users_tree",
        "unshare",
        check_on_path("unshare"),
    ) {
        runs_the_users_tree(&UnshareIsolator::new(&options), true);
        runs_the_users_command(&|options| Box::new(UnshareIsolator::new(options)));
    }
}

/// One OCI runtime at a time: their leftover checks share the parent cgroup.
static OCI_ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn available(isolator: &dyn Isolator) -> Result<(), String> {
    match isolator.availability(&Host::detect()) {
        Availability::Available => Ok(()),
        Availability::Unavailable { reason } => Err(reason),
    }
}

#[test]
fn oci_runtimes_run_the_users_tree() {
    let options = httpd_options(18083);
    for (name, isolator, probe_on_host) in [
        ("runc", runc(&options), true),
        ("crun", crun(&options), true),
        ("runsc", runsc(&options), false),
    ] {
        let test = format!("{name}_runs_the_users_tree");
        if !gate(&test, name, check_on_path(name)) || !gate(&test, name, available(&isolator)) {
            continue;
        }
        let _serial = OCI_ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        runs_the_users_tree(&isolator, probe_on_host);
        drop(isolator);
        runs_the_users_command(&|options| {
            Box::new(match name {
                "runc" => runc(options),
                "crun" => crun(options),
                _ => runsc(options),
            })
        });
        assert_eq!(
            isolators::external::oci::cgroup_parent_dirs(),
            Vec::<PathBuf>::new()
        );
    }
}

#[test]
fn lxc_runs_the_users_tree() {
    let isolator = LxcIsolator::new(&httpd_options(18084));
    if gate("lxc_runs_the_users_tree", "lxc", check_on_path("lxc-start"))
        && gate("lxc_runs_the_users_tree", "lxc", available(&isolator))
    {
        runs_the_users_tree(&isolator, true);
        runs_the_users_command(&|options| Box::new(LxcIsolator::new(options)));
    }
}

/// The user's images of this test process (`isobench-<owner>-<n>-workload`).
fn workload_images(client: &str) -> Vec<String> {
    let output = std::process::Command::new(client)
        .args(["images", "--format", "{{.Repository}}"])
        .output()
        .unwrap();
    let owner = isolators::orphans::Owner::current().tag();
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|name| name.contains(&owner) && name.ends_with("-workload"))
        .map(str::to_string)
        .collect()
}

#[test]
fn docker_and_podman_import_the_users_tree() {
    let options = httpd_options(18085);
    for (name, isolator) in [("docker", docker(&options)), ("podman", podman(&options))] {
        let test = format!("{name}_imports_the_users_tree");
        if !gate(&test, name, check_on_path(name)) || !gate(&test, name, available(&isolator)) {
            continue;
        }
        // What an isobench killed before its drop would leave: an image named after an owner
        // that is gone (same pid namespace, a pid no process has).
        let ns = isolators::orphans::Owner::current().tag();
        let ns = ns.rsplit('-').next().unwrap();
        let orphan = format!("isobench-999999999-1-{ns}-0-workload");
        let empty = tempfile::tempdir().unwrap();
        let imported = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "tar -C {} -cf - . | {name} import - {orphan}",
                empty.path().display()
            ))
            .output()
            .unwrap();
        assert!(imported.status.success(), "{imported:?}");
        runs_the_users_tree(&isolator, true);
        runs_the_users_command(&|options| match name {
            "docker" => Box::new(docker(options)),
            _ => Box::new(podman(options)),
        });
        assert_eq!(workload_images(name), Vec::<String>::new(), "{name}");
        let images = std::process::Command::new(name)
            .args(["images", "--format", "{{.Repository}}"])
            .output()
            .unwrap();
        let images = String::from_utf8_lossy(&images.stdout).to_string();
        assert!(!images.contains(&orphan), "{name} kept {orphan}: {images}");
    }
}

#[test]
fn the_process_baseline_runs_only_the_hosts_root() {
    let isolator = ProcessIsolator::with_user(httpd_options(18086).user);
    let reason = match isolator.availability(&Host::detect()) {
        Availability::Unavailable { reason } => reason,
        Availability::Available => panic!("a busybox tree is not the host's root"),
    };
    assert_eq!(
        reason,
        "the process baseline runs on the host's root; pass --rootfs / to time the command there"
    );
    let scratch = tempfile::tempdir().unwrap();
    let error = isolator
        .prepare(&Workload::noop(), scratch.path())
        .unwrap_err();
    assert_eq!(error.to_string(), reason);
    let host = user_options(Path::new("/"), &["true"], ReadyCheck::Exit { code: 0 });
    let isolator = ProcessIsolator::with_user(host.user.clone());
    assert!(isolator.availability(&Host::detect()).is_available());
    // Every other non-VM isolator says why it cannot run the host's root.
    let others: Vec<Box<dyn Isolator>> = vec![
        Box::new(ContainerIsolator::new().with_user(host.user.clone())),
        Box::new(BwrapIsolator::new(&host)),
        Box::new(UnshareIsolator::new(&host)),
        Box::new(runc(&host)),
        Box::new(crun(&host)),
        Box::new(runsc(&host)),
        Box::new(LxcIsolator::new(&host)),
        Box::new(docker(&host)),
        Box::new(podman(&host)),
    ];
    for other in others {
        match other.availability(&Host::detect()) {
            Availability::Unavailable { reason } => assert_eq!(
                reason,
                "--rootfs / is the host's own root: only the process baseline runs it; give a rootfs directory or image",
                "{}",
                other.name()
            ),
            Availability::Available => panic!("{} takes the host's root", other.name()),
        }
    }
    // On the host's root the baseline runs the commands themselves, through the probe.
    let marker = tempfile::tempdir().unwrap();
    let marker = marker.path().join("up");
    runs_these(
        &|options| Box::new(ProcessIsolator::with_user(options.user.clone())),
        scenarios(Some(&marker)),
    );
}
