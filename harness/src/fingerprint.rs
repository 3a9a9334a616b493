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
    }
}

/// The 1-minute load average.
pub fn loadavg() -> f64 {
    procfs::LoadAverage::current()
        .map(|l| l.one as f64)
        .unwrap_or(0.0)
}

fn os_release() -> String {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "unknown".into())
}
