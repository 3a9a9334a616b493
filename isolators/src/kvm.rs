//! How /dev/kvm is provided on this host: hardware, nested, software (kvm_pvm), or not at all.
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Who runs guest code when we ask /dev/kvm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "provider")]
pub enum KvmProvider {
    /// VMX or SVM on bare metal.
    Hardware {
        extension: String,
    },
    /// VMX or SVM exposed by an outer hypervisor.
    Nested {
        extension: String,
    },
    /// A software implementation, e.g. `kvm_pvm`: guest timings mean nothing.
    Software {
        module: String,
    },
    Unknown,
}

/// Whether /dev/kvm can be used by this process, and who provides it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvmAccess {
    pub provider: KvmProvider,
    /// None when /dev/kvm opens read-write; otherwise why not, phrased as what to do.
    pub problem: Option<String>,
}

impl KvmAccess {
    pub fn detect() -> KvmAccess {
        Self::detect_at(
            Path::new("/dev/kvm"),
            Path::new("/sys/module"),
            Path::new("/proc/cpuinfo"),
        )
    }

    pub fn detect_at(device: &Path, modules: &Path, cpuinfo: &Path) -> KvmAccess {
        let flags = std::fs::read_to_string(cpuinfo).unwrap_or_default();
        let flags: Vec<&str> = flags
            .lines()
            .find(|line| line.starts_with("flags"))
            .map(|line| line.split_whitespace().collect())
            .unwrap_or_default();
        let extension = ["vmx", "svm"].into_iter().find(|ext| flags.contains(ext));
        let provider = if modules.join("kvm_pvm").exists() {
            KvmProvider::Software {
                module: "kvm_pvm".into(),
            }
        } else if let Some(ext) = extension {
            if flags.contains(&"hypervisor") {
                KvmProvider::Nested {
                    extension: ext.into(),
                }
            } else {
                KvmProvider::Hardware {
                    extension: ext.into(),
                }
            }
        } else {
            KvmProvider::Unknown
        };
        let problem = match std::fs::OpenOptions::new().read(true).write(true).open(device) {
            Ok(_) => None,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(format!(
                "{}: not found — load kvm_intel or kvm_amd (modprobe), or enable virtualization in the BIOS or the outer hypervisor",
                device.display()
            )),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Some(format!(
                "{}: permission denied — {}",
                device.display(),
                isobench_protocol::kvm_access::permission_advice(device)
            )),
            Err(e) => Some(format!("{}: {e}", device.display())),
        };
        KvmAccess { provider, problem }
    }

    pub fn is_software(&self) -> bool {
        matches!(self.provider, KvmProvider::Software { .. })
    }
}

impl fmt::Display for KvmProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvmProvider::Hardware { extension } => write!(f, "hardware ({extension})"),
            KvmProvider::Nested { extension } => write!(f, "nested ({extension})"),
            KvmProvider::Software { module } => write!(f, "software ({module})"),
            KvmProvider::Unknown => write!(f, "unknown"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn software_module_wins_over_cpu_flags() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("kvm_pvm")).unwrap();
        let cpuinfo = dir.path().join("cpuinfo");
        std::fs::write(&cpuinfo, "flags\t: fpu svm hypervisor\n").unwrap();
        let access = KvmAccess::detect_at(&dir.path().join("kvm"), dir.path(), &cpuinfo);
        assert!(access.is_software());
        assert!(access.problem.unwrap().contains("not found"));
    }

    #[test]
    fn nested_when_hypervisor_flag() {
        let dir = tempfile::tempdir().unwrap();
        let cpuinfo = dir.path().join("cpuinfo");
        std::fs::write(&cpuinfo, "flags\t: fpu vmx hypervisor\n").unwrap();
        let access = KvmAccess::detect_at(&dir.path().join("kvm"), dir.path(), &cpuinfo);
        assert_eq!(
            access.provider,
            KvmProvider::Nested {
                extension: "vmx".into()
            }
        );
    }
}
