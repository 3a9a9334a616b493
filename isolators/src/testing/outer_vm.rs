//! The outer VM of the nested-KVM tests, seen from the host: its initramfs (a test binary as
//! /init, the guest kernel, the KVM modules, whatever executables the test adds with their
//! shared libraries) and its run under `qemu-system-x86_64 -accel tcg -cpu EPYC,+svm`, where
//! /dev/kvm is real (emulated SVM) even on a host whose own KVM cannot run Linux.
//!
//! The test binary selects its inside half with a test-name filter on the kernel command line
//! (the arguments after `--` are init's) and [`INSIDE_ENV`] (see [`super::inside_vm`]).
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::microvm::cpio::{self, Entry};

/// Set (to 1) on the outer VM's kernel command line, so init's environment has it.
pub const INSIDE_ENV: &str = "ISOBENCH_NESTED_INSIDE";
/// The KVM modules to load, in order, when the cache has no `modules/order`.
const FALLBACK_MODULES: [&str; 3] = ["irqbypass.ko", "kvm.ko", "kvm-amd.ko"];

/// The guest kernel cache: `vmlinuz` and `modules/` (scripts/fetch-guest-kernel.sh).
pub fn kernel_dir() -> PathBuf {
    crate::microvm::guest::cache_dir().join("kernel")
}

/// The modules the outer VM loads, in order: the cache's `modules/order` without kvm-intel.ko
/// (the outer CPU is an AMD EPYC with SVM), else [`FALLBACK_MODULES`].
pub fn modules_to_load(kernel_dir: &Path) -> Vec<String> {
    match std::fs::read_to_string(kernel_dir.join("modules/order")) {
        Ok(order) => order
            .lines()
            .map(str::trim)
            .filter(|name| !name.is_empty() && *name != "kvm-intel.ko")
            .map(String::from)
            .collect(),
        Err(_) => FALLBACK_MODULES.map(String::from).into(),
    }
}

/// `Ok` when an outer VM can be booted: QEMU on PATH, the kernel and its KVM modules cached.
pub fn check_outer_vm(kernel_dir: &Path) -> Result<(), String> {
    super::check_on_path("qemu-system-x86_64")?;
    let modules = modules_to_load(kernel_dir);
    let files = modules.iter().map(|name| format!("modules/{name}"));
    for file in std::iter::once("vmlinuz".to_string()).chain(files) {
        if !kernel_dir.join(&file).is_file() {
            return Err(format!(
                "{} missing — run scripts/fetch-guest-kernel.sh",
                kernel_dir.join(file).display()
            ));
        }
    }
    Ok(())
}

/// The outer VM's initramfs, file by file (path inside → bytes, mode).
pub struct OuterImage {
    files: BTreeMap<String, (Vec<u8>, u32)>,
}

impl OuterImage {
    /// `init` as /init, the guest kernel as /vmlinuz, the KVM modules with `modules/order`.
    pub fn new(kernel_dir: &Path, init: &Path) -> std::io::Result<OuterImage> {
        let mut image = OuterImage {
            files: BTreeMap::new(),
        };
        image.executable("init", init)?;
        image.file("vmlinuz", &kernel_dir.join("vmlinuz"), 0o644)?;
        let modules = modules_to_load(kernel_dir);
        for module in &modules {
            let host = kernel_dir.join("modules").join(module);
            image.file(&format!("modules/{module}"), &host, 0o644)?;
        }
        // What the outer VM loads, in this order (see `modules_to_load`).
        let order: String = modules.iter().map(|m| format!("{m}\n")).collect();
        image.bytes("modules/order", order.into_bytes(), 0o644);
        Ok(image)
    }

    /// `host` at `at` (a relative path), with every shared library it loads at its own path.
    pub fn executable(&mut self, at: &str, host: &Path) -> std::io::Result<()> {
        self.file(at, host, 0o755)?;
        for library in crate::disk::shared_libraries(host) {
            let at = library
                .to_string_lossy()
                .trim_start_matches('/')
                .to_string();
            self.file(&at, &library, 0o755)?;
        }
        Ok(())
    }

    /// The contents of `host` (symbolic links followed) at `at`.
    pub fn file(&mut self, at: &str, host: &Path, mode: u32) -> std::io::Result<()> {
        let bytes = std::fs::read(host)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", host.display())))?;
        self.bytes(at, bytes, mode);
        Ok(())
    }

    pub fn bytes(&mut self, at: &str, bytes: Vec<u8>, mode: u32) {
        self.files.insert(at.to_string(), (bytes, mode));
    }

    /// The cpio archive: the files, their parent directories, the usual mount points and
    /// `dev/console`. Panics when an entry is one the format cannot carry
    /// ([`cpio::CpioError`]).
    pub fn cpio(&self) -> Vec<u8> {
        let mut directories: Vec<String> = ["dev", "proc", "sys", "tmp", "modules"]
            .map(String::from)
            .into();
        for path in self.files.keys() {
            let mut parent = Path::new(path).parent();
            while let Some(dir) = parent.filter(|d| !d.as_os_str().is_empty()) {
                directories.push(dir.to_string_lossy().into_owned());
                parent = dir.parent();
            }
        }
        directories.sort();
        directories.dedup();
        let mut entries: Vec<Entry> = directories.iter().map(|d| Entry::dir(d, 0o755)).collect();
        entries.push(Entry::DEV_CONSOLE);
        entries.extend(
            self.files
                .iter()
                .map(|(path, (data, mode))| Entry::file(path, *mode, data)),
        );
        // Paths come from the host's file names and the test's constants: a refusal is a bug
        // in the test, shown with its reason.
        cpio::archive(&entries).unwrap_or_else(|e| panic!("{e}"))
    }
}

/// How the outer VM runs.
pub struct OuterVm {
    pub mem_mib: u32,
    pub cpus: u32,
    /// QEMU is killed after this long.
    pub timeout: Duration,
}

/// What the outer VM printed on its serial console, and how long it ran.
pub struct OuterRun {
    pub console: String,
    pub exit_code: Option<i32>,
    pub took: Duration,
}

impl OuterRun {
    /// The first console line containing `marker`.
    pub fn line_with(&self, marker: &str) -> Option<&str> {
        self.console.lines().find(|line| line.contains(marker))
    }

    /// True when QEMU was killed at its timeout (`timeout`'s exit 124) before any `verdict`
    /// line: the outer VM hung, as opposed to a test that failed and said so.
    pub fn hung(&self, verdict: &str) -> bool {
        self.exit_code == Some(124) && self.line_with(verdict).is_none()
    }

    /// Prints the `verdict` line [`crate::testing::inside_vm::report_and_power_off`] wrote, or
    /// panics when it is missing or not a PASS (the console was streamed above).
    pub fn assert_passed(&self, verdict: &str) {
        match self.line_with(verdict) {
            Some(line) if line.contains("PASS") => eprintln!("{line}"),
            _ => panic!(
                "no PASS verdict from the outer VM (exit {:?}); its console is above",
                self.exit_code
            ),
        }
    }
}

impl OuterVm {
    /// Boots `kernel_dir/vmlinuz` with `initramfs`; /init runs the test `test` (exact name)
    /// with `env` (NAME=value words) in its environment. Each console line is also written
    /// to stderr as it arrives (`eprintln!`: shown with --nocapture, or when the test fails).
    pub fn run(
        &self,
        kernel_dir: &Path,
        initramfs: &Path,
        test: &str,
        env: &[String],
    ) -> std::io::Result<OuterRun> {
        let append = format!(
            "console=ttyS0 panic=-1 loglevel=4 rdinit=/init {INSIDE_ENV}=1 {} -- {test} --exact --nocapture --test-threads=1",
            env.join(" ")
        );
        let started = Instant::now();
        let mut qemu = Command::new("timeout")
            .arg(self.timeout.as_secs().to_string())
            .arg("qemu-system-x86_64")
            .args(["-accel", "tcg", "-cpu", "EPYC,+svm"])
            .args([
                "-smp",
                &self.cpus.to_string(),
                "-m",
                &self.mem_mib.to_string(),
            ])
            .args(["-nodefaults", "-no-user-config", "-display", "none"])
            .args(["-serial", "stdio", "-no-reboot"])
            .arg("-kernel")
            .arg(kernel_dir.join("vmlinuz"))
            .arg("-initrd")
            .arg(initramfs)
            .args(["-append", &append])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut console = String::new();
        if let Some(stdout) = qemu.stdout.take() {
            // A read error ends the copy; `timeout` still ends QEMU.
            for line in std::io::BufReader::new(stdout)
                .split(b'\n')
                .map_while(Result::ok)
            {
                let line = String::from_utf8_lossy(&line).trim_end().to_string();
                eprintln!("outer vm | {line}");
                console.push_str(&line);
                console.push('\n');
            }
        }
        let status = qemu.wait()?;
        Ok(OuterRun {
            console,
            exit_code: status.code(),
            took: started.elapsed(),
        })
    }
}

/// The host side of a nested test of our VMM: skips (with its reason, or fails under
/// ISOBENCH_REQUIRE=nested) unless the outer VM can run; then boots it with this test binary
/// as /init and isobench-vmm beside it, runs the test `inside` there, and asserts its `verdict`.
pub fn run_vmm_test_inside(test: &str, inside: &str, verdict: &str, timeout: Duration) {
    run_vmm_test_inside_with(test, inside, verdict, timeout, &OuterExtras::default());
}

/// What a nested test adds to the outer VM beside isobench-vmm.
#[derive(Debug, Default)]
pub struct OuterExtras<'a> {
    /// Executables (path inside, path on the host), each with the shared libraries it loads
    /// (e.g. a static busybox the test inside makes a user rootfs of).
    pub executables: &'a [(&'a str, &'a Path)],
    /// Plain files (path inside, path on the host), e.g. a rootfs tarball.
    pub files: &'a [(&'a str, &'a Path)],
    /// The outer VM's RAM, MiB, when the default 1024 is too little.
    pub mem_mib: Option<u32>,
}

/// [`run_vmm_test_inside`] with `extras` in the outer VM.
pub fn run_vmm_test_inside_with(
    test: &str,
    inside: &str,
    verdict: &str,
    timeout: Duration,
    extras: &OuterExtras,
) {
    let kernel_dir = kernel_dir();
    let ready = check_outer_vm(&kernel_dir).and_then(|()| {
        crate::microvm::find_vmm()
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    if !crate::testing::run_if(test, "nested", ready) {
        return;
    }
    let work = tempfile::tempdir().expect("temp dir");
    let initramfs = work.path().join("outer-initramfs.cpio");
    let init = std::env::current_exe().expect("this test binary");
    let mut image = OuterImage::new(&kernel_dir, &init).expect("outer image");
    let vmm = crate::microvm::find_vmm().expect("isobench-vmm");
    image
        .executable("isobench-vmm", &vmm)
        .expect("isobench-vmm in the image");
    for (at, host) in extras.executables {
        image
            .executable(at, host)
            .unwrap_or_else(|e| panic!("{at} in the image: {e}"));
    }
    for (at, host) in extras.files {
        image
            .file(at, host, 0o644)
            .unwrap_or_else(|e| panic!("{at} in the image: {e}"));
    }
    std::fs::write(&initramfs, image.cpio()).expect("write the outer initramfs");
    let outer = OuterVm {
        mem_mib: extras.mem_mib.unwrap_or(1024),
        cpus: 1,
        timeout,
    };
    let mut run = outer
        .run(&kernel_dir, &initramfs, inside, &[])
        .expect("run the outer VM");
    eprintln!("nested run took {:.0} s", run.took.as_secs_f64());
    if run.hung(verdict) {
        // Emulated SVM under TCG has hung here about once in seven CI runs of nested_restore,
        // with nothing on the console. One more attempt; a second hang fails.
        eprintln!(
            "the outer VM hung: no verdict in {} s (its console is above); running it once more",
            timeout.as_secs()
        );
        run = outer
            .run(&kernel_dir, &initramfs, inside, &[])
            .expect("run the outer VM");
        eprintln!("nested run took {:.0} s", run.took.as_secs_f64());
    }
    run.assert_passed(verdict);
}
