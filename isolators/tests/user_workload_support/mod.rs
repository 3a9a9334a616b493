//! The user workload the container-like isolators' tests run: a busybox-static tree made
//! once per test binary (never written to by an isolator), and the probe's `exec` mode under
//! an isolator with three commands in it (a server, a batch job, a command that ignores
//! SIGTERM), checking that each leaves nothing behind.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use isolators::protocol::{ReadyCheck, UserCommand};
use isolators::registry::IsolatorOptions;
use isolators::testing::mounts_naming;
use isolators::user_workload::{UserRootfs, UserWorkload};
use isolators::{Isolator, Workload};

use crate::external_support;
/// The host's static busybox (Debian's busybox-static), the only executable of the tree.
pub const BUSYBOX: &str = "/bin/busybox";

/// One tree for the whole test binary: made once, never written to by any isolator.
pub static TREE: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();

/// A static is never dropped: the tree is removed when the test binary exits instead.
extern "C" fn remove_busybox_tree() {
    if let Some(tree) = TREE.get() {
        let _ = std::fs::remove_dir_all(tree.path());
    }
}

pub fn busybox_tree() -> &'static Path {
    TREE.get_or_init(|| {
        // SAFETY: atexit takes a plain extern "C" function that only reads a static.
        assert_eq!(unsafe { libc::atexit(remove_busybox_tree) }, 0);
        let tree = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tree.path().join("bin")).unwrap();
        std::fs::copy(BUSYBOX, tree.path().join("bin/busybox"))
            .expect("/bin/busybox: install busybox-static (scripts/setup-test-host.sh does)");
        for applet in ["sh", "httpd", "sha256sum", "sleep", "true", "cat"] {
            std::os::unix::fs::symlink("busybox", tree.path().join("bin").join(applet)).unwrap();
        }
        std::fs::create_dir(tree.path().join("www")).unwrap();
        std::fs::write(tree.path().join("www/index.html"), b"hello\n").unwrap();
        std::fs::write(tree.path().join("data"), vec![7u8; 1 << 20]).unwrap();
        tree
    })
    .path()
}

/// The names in the tree, to prove no isolator wrote into it.
pub fn listing(tree: &Path) -> Vec<PathBuf> {
    let mut names: Vec<PathBuf> = walk(tree).collect();
    names.sort();
    names
}

pub fn walk(dir: &Path) -> Box<dyn Iterator<Item = PathBuf>> {
    let entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
    Box::new(entries.into_iter().flat_map(|e| {
        let path = e.path();
        let below = match e.file_type().unwrap().is_dir() {
            true => walk(&path),
            false => Box::new(std::iter::empty()),
        };
        std::iter::once(path).chain(below)
    }))
}

/// The grace a command gets between SIGTERM and SIGKILL in these tests.
pub const STOP_GRACE: Duration = Duration::from_millis(1_000);

pub fn user_options(rootfs: &Path, argv: &[&str], ready: ReadyCheck) -> IsolatorOptions {
    let command = UserCommand {
        argv: argv.iter().map(|a| a.to_string()).collect(),
        env: vec![],
        workdir: "/".into(),
        ready,
        ready_timeout_ms: 20_000,
        stop_grace_ms: STOP_GRACE.as_millis() as u64,
    };
    IsolatorOptions {
        user: Some(Arc::new(UserWorkload {
            rootfs: UserRootfs::open(rootfs).unwrap(),
            command,
        })),
        ..Default::default()
    }
}

/// An httpd on `port` in the busybox tree.
pub fn httpd_options(port: u16) -> IsolatorOptions {
    let argv = ["httpd", "-f", "-p", &port.to_string(), "-h", "/www"].map(String::from);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    user_options(busybox_tree(), &argv, ReadyCheck::Tcp { port })
}

/// The three commands in a rootfs: busybox httpd ready on `tcp:`, `sha256sum` of a 1 MiB file
/// ready on `exit:0`, and a shell ignoring SIGTERM ready once it wrote a file. `on_host`: the
/// same with host paths, for the process baseline's `--rootfs /` (`marker` is where the shell
/// writes; in a rootfs it is /tmp/up, on the writable tmpfs).
pub fn scenarios(on_host: Option<&Path>) -> Vec<(&'static str, IsolatorOptions)> {
    let tree = busybox_tree();
    let (root, program, www, data, marker) = match on_host {
        None => (
            tree,
            "busybox".to_string(),
            "/www".into(),
            "/data".into(),
            "/tmp/up".into(),
        ),
        Some(marker) => (
            Path::new("/"),
            BUSYBOX.to_string(),
            tree.join("www").display().to_string(),
            tree.join("data").display().to_string(),
            marker.display().to_string(),
        ),
    };
    let script = format!("trap '' TERM; echo up > {marker}; while true; do sleep 1; done");
    let port = 18090.to_string();
    let httpd = [program.as_str(), "httpd", "-f", "-p", &port, "-h", &www];
    let sha256sum = [program.as_str(), "sha256sum", &data];
    let stubborn = [program.as_str(), "sh", "-c", &script];
    vec![
        (
            "httpd",
            user_options(root, &httpd, ReadyCheck::Tcp { port: 18090 }),
        ),
        (
            "sha256sum",
            user_options(root, &sha256sum, ReadyCheck::Exit { code: 0 }),
        ),
        (
            "stubborn",
            user_options(root, &stubborn, ReadyCheck::File { path: marker }),
        ),
    ]
}

/// The probe's `exec` mode under the isolator `make` builds from the options: a server on
/// `tcp:`, a batch job on `exit:0` (twice: released, and dropped), and a command ignoring
/// SIGTERM, which teardown kills after the grace. Nothing may be left after each.
pub fn runs_the_users_command(make: &dyn Fn(&IsolatorOptions) -> Box<dyn Isolator>) {
    runs_these(make, scenarios(None));
}

pub fn runs_these(
    make: &dyn Fn(&IsolatorOptions) -> Box<dyn Isolator>,
    scenarios: Vec<(&'static str, IsolatorOptions)>,
) {
    let exec: Workload = "exec".parse().unwrap();
    for (what, options) in scenarios {
        let isolator = make(&options);
        let name = isolator.name().to_string();
        let scratch = tempfile::tempdir().unwrap();
        let mut launcher = isolator.prepare(&exec, scratch.path()).unwrap();
        for released in [true, false] {
            let mut instance = launcher.launch().unwrap();
            let ready = instance.wait_ready(Duration::from_secs(60)).unwrap();
            let report = |key: &str| ready.report.get(key).cloned();
            assert_eq!(
                report("mode").as_deref(),
                Some("exec"),
                "{name} {what}: {:?}",
                ready.report
            );
            assert!(report("pid").is_some(), "{name} {what}: {:?}", ready.report);
            if what == "sha256sum" {
                assert_eq!(
                    report("exit_code").as_deref(),
                    Some("0"),
                    "{name}: {:?}",
                    ready.report
                );
            }
            // The command's processes count as the instance's (for memory): the probe's and
            // the command's at least, where they are host processes (not in runsc's Sentry).
            let memory = instance.memory().unwrap();
            let host_processes = name != "runsc" && what != "sha256sum";
            let command_pid = report("pid").unwrap().parse::<i32>().unwrap();
            if host_processes && name != "docker" && name != "podman" {
                assert!(
                    instance.resources().pids.len() >= 2,
                    "{name} {what}: {:?}",
                    instance.resources()
                );
            }
            if host_processes && command_pid > 0 && name == "process" {
                assert!(instance.resources().pids.contains(&command_pid));
            }
            let startup_us = (ready.ready_ns - instance.launched_ns()) / 1000;
            let work_us = report("work_ns")
                .and_then(|w| w.parse::<u64>().ok())
                .unwrap_or(0)
                / 1000;
            let started = std::time::Instant::now();
            if released {
                instance.release().unwrap();
                instance.wait_gone(Duration::from_secs(60)).unwrap();
                let teardown = started.elapsed();
                let pss_kib = memory.pss_bytes / 1024;
                eprintln!("{name} {what}: ready in {startup_us} µs (command {work_us} µs), {} processes {pss_kib} KiB PSS, gone in {teardown:?}", memory.processes);
                if what == "stubborn" {
                    assert!(
                        teardown >= STOP_GRACE,
                        "{name}: SIGTERM ended it? {teardown:?}"
                    );
                    assert!(teardown < STOP_GRACE * 20, "{name}: {teardown:?}");
                }
            }
            drop(instance);
            external_support::assert_nothing_runs_from(scratch.path());
            assert_eq!(mounts_naming(scratch.path()), Vec::<String>::new());
        }
        drop(launcher);
    }
}
