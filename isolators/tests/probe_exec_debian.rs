//! The exec probe in a real Debian userland: the minbase rootfs scripts/make-debian-rootfs.sh
//! builds (python3-minimal, busybox), hard-linked per instance by `UserWorkload`, run as PID 1
//! of fresh pid, mount and net namespaces chrooted into it (what the container isolators do,
//! minus cgroups): `python3 -m http.server` ready on `tcp:`, `sha256sum` as an `exit:0` batch.
mod probe_exec_support;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use isolators::protocol::{ReadyCheck, UserCommand};
use isolators::testing::{check_root, run_if};
use isolators::user_workload::{UserRootfs, UserWorkload};
use probe_exec_support::*;

const DEBIAN_ROOTFS: &str = "/var/cache/isobench/debian-rootfs";

fn debian_available(test: &str) -> bool {
    let tree = Path::new(DEBIAN_ROOTFS).join("usr/bin/python3");
    run_if(test, "root", check_root())
        && run_if(
            test,
            "debian-rootfs",
            match tree.exists() {
                true => Ok(()),
                false => Err(format!(
                    "{DEBIAN_ROOTFS} missing: run scripts/make-debian-rootfs.sh"
                )),
            },
        )
}

/// Runs the probe of `workload`'s instance rootfs under `unshare -pfn --mount-proc` + chroot.
fn start_in_debian(workload: &UserWorkload, scratch: &Path) -> ExecProbe {
    let rootfs = workload.instance_rootfs(scratch).unwrap();
    settle(&rootfs.join("isobench-probe"));
    let mount_proc = format!("--mount-proc={}", rootfs.join("proc").display());
    let rootfs = rootfs.to_str().unwrap().to_string();
    ExecProbe::start_argv(&[
        "unshare",
        "-pfn",
        &mount_proc,
        "chroot",
        &rootfs,
        "/isobench-probe",
        "--channel",
        "stdio",
        "--mode",
        "exec",
    ])
}

fn user_workload(argv: &[&str], ready: ReadyCheck) -> UserWorkload {
    UserWorkload {
        rootfs: UserRootfs::open(Path::new(DEBIAN_ROOTFS)).unwrap(),
        command: UserCommand {
            argv: argv.iter().map(|a| a.to_string()).collect(),
            env: Vec::new(),
            workdir: "/".into(),
            ready,
            ready_timeout_ms: 30_000,
            stop_grace_ms: 2_000,
        },
    }
}

#[test]
fn python_http_server_in_debian_is_ready_on_tcp_and_stopped() {
    if !debian_available("python_http_server_in_debian…") {
        return;
    }
    let workload = user_workload(
        &[
            "python3",
            "-m",
            "http.server",
            "8080",
            "--bind",
            "127.0.0.1",
        ],
        ReadyCheck::Tcp { port: 8080 },
    );
    let mut figures = Vec::new();
    for _ in 0..3 {
        let scratch = tempfile::tempdir().unwrap();
        let mut probe = start_in_debian(&workload, scratch.path());
        let report = probe.ready().expect("python3's http.server is ready");
        figures.push(work_ms(&report));
        let (status, stderr, took) = probe.release();
        assert_eq!(status, 0, "{stderr}");
        assert!(took < std::time::Duration::from_secs(3), "{took:?}");
        assert_eq!(
            processes_with_argument("http.server 8080"),
            Vec::<u32>::new()
        );
    }
    eprintln!(
        "python3 -m http.server in Debian minbase, command start → tcp:8080: {figures:.1?} ms"
    );
}

#[test]
fn sha256sum_in_debian_is_a_batch_job_timed_to_its_exit() {
    if !debian_available("sha256sum_in_debian…") {
        return;
    }
    let file = "/usr/bin/python3";
    let workload = user_workload(&["sha256sum", file], ReadyCheck::Exit { code: 0 });
    let scratch = tempfile::tempdir().unwrap();
    let mut probe = start_in_debian(&workload, scratch.path());
    let report = probe.ready().expect("sha256sum exits 0");
    assert_eq!(report["exit_code"], "0");
    let (status, stderr, _) = probe.release();
    assert_eq!(status, 0, "{stderr}");
    // The same file hashed on the host, by the host's sha256sum.
    let mut host = String::new();
    Command::new("sha256sum")
        .arg(Path::new(DEBIAN_ROOTFS).join(file.trim_start_matches('/')))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
        .stdout
        .unwrap()
        .read_to_string(&mut host)
        .unwrap();
    let digest = host.split_whitespace().next().unwrap();
    assert!(
        stderr.contains(&format!("[cmd] {digest}  {file}")),
        "{stderr}"
    );
    eprintln!(
        "sha256sum {file} in Debian minbase: {:.1} ms",
        work_ms(&report)
    );
}
