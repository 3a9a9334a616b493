//! The host fingerprint recorded with every run: kernel, CPU, memory, cgroups, KVM, versions.
use std::collections::BTreeMap;

use isolators::cgroup::CgroupLayout;
use isolators::kvm;
use isolators::Host;
use procfs::Current;
use reports::{CgroupMode, HostFingerprint, KvmProvider};

/// Reads what the record needs from /proc and the detected `host`.
pub fn fingerprint(host: &Host, tool_versions: BTreeMap<String, String>) -> HostFingerprint {
    let uname = nix::sys::utsname::uname().ok();
    let field = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
        uname
            .as_ref()
            .map(|u| f(u).to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let memory_total_bytes = procfs::Meminfo::current().map(|m| m.mem_total).unwrap_or(0);
    let (kvm_provider, kvm_detail) = match (&host.kvm.provider, &host.kvm.problem) {
        (_, Some(problem)) if problem.contains("not found") => {
            (KvmProvider::Absent, problem.clone())
        }
        (provider, problem) => {
            let kind = match provider {
                kvm::KvmProvider::Hardware { .. } => KvmProvider::Hardware,
                kvm::KvmProvider::Nested { .. } => KvmProvider::Nested,
                kvm::KvmProvider::Software { .. } => KvmProvider::Software,
                kvm::KvmProvider::Unknown => KvmProvider::Unknown,
            };
            let detail = match problem {
                Some(p) => format!("{provider}; {p}"),
                None => provider.to_string(),
            };
            (kind, detail)
        }
    };
    HostFingerprint {
        hostname: field(|u| u.nodename()),
        kernel: format!("{} {}", field(|u| u.sysname()), field(|u| u.release())),
        os: os_release(),
        cpu_model,
        cores: std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1),
        memory_total_bytes,
        cgroup_mode: match host.cgroup {
            CgroupLayout::Unified { .. } => CgroupMode::V2,
            CgroupLayout::Legacy { .. } => CgroupMode::V1,
            CgroupLayout::Hybrid { .. } => CgroupMode::Hybrid,
            CgroupLayout::Unsupported { .. } => CgroupMode::Unsupported,
        },
        cgroup_detail: host.cgroup.to_string(),
        kvm_provider,
        kvm_detail,
        is_root: host.is_root,
        tool_versions,
        loadavg_start: loadavg(),
        loadavg_end: 0.0,
        other_runnable_mean: None,
    }
}

/// The 1-minute load average.
pub fn loadavg() -> f64 {
    procfs::LoadAverage::current()
        .map(|l| l.one as f64)
        .unwrap_or(0.0)
}

/// Counts, at chosen moments, the tasks runnable on the host besides the one sampling (the
/// kernel's current count in /proc/loadavg, less 1): the work that competes with a benchmark
/// while it runs. Sampled when isobench itself is the only thing of its own running (before a
/// trial's launch), it does not count the run's own load as the load average does.
#[derive(Debug, Default)]
pub struct OtherWork {
    samples: u32,
    runnable: u64,
}

impl OtherWork {
    /// One sample now; a host without /proc/loadavg gives none.
    pub fn sample(&mut self) {
        if let Ok(load) = procfs::LoadAverage::current() {
            self.samples += 1;
            self.runnable += u64::from(load.cur.saturating_sub(1));
        }
    }

    /// `count` samples `every` apart: the moment before a burst.
    pub fn sample_for(&mut self, count: u32, every: std::time::Duration) {
        for i in 0..count {
            if i > 0 {
                std::thread::sleep(every);
            }
            self.sample();
        }
    }

    /// The mean number of other runnable tasks, or None without a sample.
    pub fn mean(&self) -> Option<f64> {
        (self.samples > 0).then(|| self.runnable as f64 / f64::from(self.samples))
    }
}

fn os_release() -> String {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process spinning beside the sampler is always runnable, so every sample counts it.
    #[test]
    fn other_work_counts_a_spinning_process() {
        let mut spinner = std::process::Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()
            .expect("spawn a spinning sh");
        std::thread::sleep(std::time::Duration::from_millis(50));
        let mut other = OtherWork::default();
        other.sample_for(20, std::time::Duration::from_millis(2));
        spinner.kill().unwrap();
        spinner.wait().unwrap();
        let mean = other.mean().expect("/proc/loadavg is readable");
        assert!(
            mean >= 0.9,
            "a spinning process should count as ~1 other task, got {mean}"
        );
        assert_eq!(OtherWork::default().mean(), None);
    }
}
