//! The schema's closed sets of words — isolator flags, warning codes, the KVM provider, the cgroup
//! mode, the trial order and an isolator's status — as enums with the JSON spellings of schema 1.
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why an isolator's numbers may not mean what they say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flag {
    /// A VM ran on software-emulated KVM (kvm_pvm): its timings say nothing of hardware.
    SoftwareKvm,
    /// A VM ran with no hardware virtualization at all: every guest instruction emulated by
    /// QEMU's TCG. Its timings are not a KVM VM's.
    Emulated,
    /// Startup varied by more than the noise limit (σ/mean).
    Noisy,
    /// Fewer successful trials than asked.
    FewSamples,
    /// Its host-cost batches disagree with each other by more than the noise limit, or some
    /// were disturbed by other work on the host: the system-wide memory figure is uncertain.
    HostCostNoisy,
}

impl Flag {
    pub fn as_str(self) -> &'static str {
        match self {
            Flag::SoftwareKvm => "software-kvm",
            Flag::Emulated => "emulated",
            Flag::Noisy => "noisy",
            Flag::FewSamples => "few-samples",
            Flag::HostCostNoisy => "host-cost-noisy",
        }
    }
}

/// What a run-wide validity warning is about: every [`Flag`], plus run-level causes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WarningCode {
    SoftwareKvm,
    Emulated,
    Noisy,
    FewSamples,
    HostCostNoisy,
    /// An engine runs with a deviation from its stock setup (the isolator's notes).
    EngineWorkaround,
    /// Fewer measured runs than the statistics need.
    TooFewRuns,
    /// Other tasks were runnable while the benchmark ran: other work competed for the CPUs.
    NoisyHost,
    /// The time budget stopped an isolator's trials before the runs asked for.
    BudgetReached,
}

impl WarningCode {
    pub fn as_str(self) -> &'static str {
        match self {
            WarningCode::SoftwareKvm => Flag::SoftwareKvm.as_str(),
            WarningCode::Emulated => Flag::Emulated.as_str(),
            WarningCode::Noisy => Flag::Noisy.as_str(),
            WarningCode::FewSamples => Flag::FewSamples.as_str(),
            WarningCode::HostCostNoisy => Flag::HostCostNoisy.as_str(),
            WarningCode::EngineWorkaround => "engine-workaround",
            WarningCode::TooFewRuns => "too-few-runs",
            WarningCode::NoisyHost => "noisy-host",
            WarningCode::BudgetReached => "budget-reached",
        }
    }
}

impl From<Flag> for WarningCode {
    fn from(flag: Flag) -> WarningCode {
        match flag {
            Flag::SoftwareKvm => WarningCode::SoftwareKvm,
            Flag::Emulated => WarningCode::Emulated,
            Flag::Noisy => WarningCode::Noisy,
            Flag::FewSamples => WarningCode::FewSamples,
            Flag::HostCostNoisy => WarningCode::HostCostNoisy,
        }
    }
}

/// How /dev/kvm is provided on the host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KvmProvider {
    /// The CPU's own virtualization (vmx/svm).
    Hardware,
    /// KVM inside a VM that exposes virtualization to it.
    Nested,
    /// Emulated in software (kvm_pvm): VM timings are not representative.
    Software,
    #[default]
    Unknown,
    /// No /dev/kvm.
    Absent,
}

impl KvmProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            KvmProvider::Hardware => "hardware",
            KvmProvider::Nested => "nested",
            KvmProvider::Software => "software",
            KvmProvider::Unknown => "unknown",
            KvmProvider::Absent => "absent",
        }
    }
}

/// The host's cgroup layout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CgroupMode {
    /// Pure cgroup v2 (unified).
    V2,
    /// Legacy v1 controllers only.
    V1,
    /// v1 controllers plus a cgroup2 mount.
    Hybrid,
    #[default]
    Unsupported,
}

impl CgroupMode {
    pub fn as_str(self) -> &'static str {
        match self {
            CgroupMode::V2 => "v2",
            CgroupMode::V1 => "v1",
            CgroupMode::Hybrid => "hybrid",
            CgroupMode::Unsupported => "unsupported",
        }
    }
}

/// `Display` as the JSON spelling, for the renderers.
macro_rules! display_as_str {
    ($($name:ty),*) => {$(
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}

display_as_str!(Flag, WarningCode, KvmProvider, CgroupMode);

/// In which order trials ran. JSON: `"interleaved"`, `"sequential"`, or for `isobench density`
/// `"density [1, 10], parallel 2"` (the instance counts and launcher threads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Order {
    /// A B C A B C …: drift on a noisy host hits every isolator alike.
    Interleaved,
    Sequential,
    /// `isobench density`: these instance counts, held one after the other.
    Density {
        instances: Vec<u32>,
        parallel: u32,
    },
    /// `isobench burst`: each isolator's closed-loop, then open-loop points.
    Burst,
}

impl fmt::Display for Order {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Order::Interleaved => f.write_str("interleaved"),
            Order::Sequential => f.write_str("sequential"),
            Order::Density {
                instances,
                parallel,
            } => write!(f, "density {instances:?}, parallel {parallel}"),
            Order::Burst => f.write_str("burst"),
        }
    }
}

impl std::str::FromStr for Order {
    type Err = String;

    fn from_str(text: &str) -> Result<Order, String> {
        let density = || -> Option<Order> {
            let rest = text.strip_prefix("density [")?;
            let (counts, parallel) = rest.split_once("], parallel ")?;
            let instances = match counts {
                "" => Vec::new(),
                counts => counts
                    .split(", ")
                    .map(|n| n.parse().ok())
                    .collect::<Option<_>>()?,
            };
            Some(Order::Density {
                instances,
                parallel: parallel.parse().ok()?,
            })
        };
        match text {
            "interleaved" => Ok(Order::Interleaved),
            "sequential" => Ok(Order::Sequential),
            "burst" => Ok(Order::Burst),
            _ => density().ok_or_else(|| {
                format!("unknown order {text:?}, expected interleaved, sequential, burst or \"density [N, …], parallel P\"")
            }),
        }
    }
}

impl Serialize for Order {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Order {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Order, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Whether an isolator ran. Stored in JSON as `unavailable_reason`: null when available, the
/// reason when unavailable, and `"prepare failed: <error>"` when it was available but could not
/// be prepared (then `run` and `density` exit with status 1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Status {
    #[default]
    Available,
    /// Not runnable here; the reason says what to do.
    Unavailable { reason: String },
    /// Available, but preparing it (rootfs, bundle, guest image) failed.
    PrepareFailed { error: String },
}

/// How [`Status::PrepareFailed`] begins in `unavailable_reason`.
const PREPARE_FAILED: &str = "prepare failed: ";

impl Status {
    pub fn is_available(&self) -> bool {
        matches!(self, Status::Available)
    }

    /// Why the isolator did not run, as the record spells it; None when available.
    pub fn reason(&self) -> Option<String> {
        match self {
            Status::Available => None,
            Status::Unavailable { reason } => Some(reason.clone()),
            Status::PrepareFailed { error } => Some(format!("{PREPARE_FAILED}{error}")),
        }
    }

    fn from_reason(reason: Option<String>) -> Status {
        match reason {
            None => Status::Available,
            Some(text) => match text.strip_prefix(PREPARE_FAILED) {
                Some(error) => Status::PrepareFailed {
                    error: error.to_string(),
                },
                None => Status::Unavailable { reason: text },
            },
        }
    }
}

/// `#[serde(with)]` for [`Status`] as the nullable `unavailable_reason` string.
pub(super) mod unavailable_reason {
    use super::*;

    pub fn serialize<S: Serializer>(status: &Status, serializer: S) -> Result<S::Ok, S::Error> {
        status.reason().serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Status, D::Error> {
        Option::<String>::deserialize(deserializer).map(Status::from_reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_round_trips_every_spelling() {
        for text in [
            "interleaved",
            "sequential",
            "density [1, 5], parallel 1",
            "density [], parallel 2",
        ] {
            let order: Order = text.parse().unwrap();
            assert_eq!(order.to_string(), text);
        }
        assert!("density [1, x], parallel 1".parse::<Order>().is_err());
        assert!("random".parse::<Order>().is_err());
    }

    #[test]
    fn status_keeps_the_reason_text() {
        for reason in [
            None,
            Some("no /dev/kvm"),
            Some("prepare failed: io: no space"),
        ] {
            let reason = reason.map(String::from);
            assert_eq!(Status::from_reason(reason.clone()).reason(), reason);
        }
        assert_eq!(
            Status::from_reason(Some("prepare failed: boom".into())),
            Status::PrepareFailed {
                error: "boom".into()
            }
        );
    }

    fn spelled(value: impl Serialize) -> String {
        serde_json::to_value(value)
            .unwrap()
            .as_str()
            .unwrap()
            .to_string()
    }

    #[test]
    fn as_str_is_the_serde_spelling() {
        for flag in [
            Flag::SoftwareKvm,
            Flag::Emulated,
            Flag::Noisy,
            Flag::FewSamples,
            Flag::HostCostNoisy,
        ] {
            assert_eq!(spelled(flag), flag.as_str());
            assert_eq!(spelled(WarningCode::from(flag)), flag.as_str());
        }
        for code in [
            WarningCode::EngineWorkaround,
            WarningCode::TooFewRuns,
            WarningCode::NoisyHost,
            WarningCode::BudgetReached,
        ] {
            assert_eq!(spelled(code), code.as_str());
        }
        use KvmProvider::*;
        for provider in [Hardware, Nested, Software, Unknown, Absent] {
            assert_eq!(spelled(provider), provider.as_str());
        }
        use CgroupMode::*;
        for mode in [V2, V1, Hybrid, Unsupported] {
            assert_eq!(spelled(mode), mode.as_str());
        }
    }
}
