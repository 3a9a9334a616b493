//! The verdict column: one plain sentence per property, phrased from the measured numbers and
//! set against the textbook claim, with the caveats the record carries (software KVM).
use super::Property;
use crate::schema::RunRecord;
use crate::units;

/// The flag an isolator carries when its VM ran on software-emulated KVM.
pub const SOFTWARE_KVM: &str = "software-kvm";

/// What every verdict needs to know about the run besides the row's numbers.
pub(super) struct Verdicts {
    /// A VM result was taken on software KVM: VM timings mean nothing.
    vm_software_kvm: bool,
    /// Other flags VM results carry.
    vm_other_flags: Vec<String>,
}

/// (best, class median) of one class.
type Pair = Option<(f64, f64)>;

impl Verdicts {
    pub(super) fn new(record: &RunRecord) -> Verdicts {
        let vms = super::members(record, super::Class::Vm);
        let flags: Vec<String> =
            distinct(&vms.iter().flat_map(|i| i.flags.clone()).collect::<Vec<_>>());
        Verdicts {
            vm_software_kvm: flags.iter().any(|f| f == SOFTWARE_KVM),
            vm_other_flags: flags.into_iter().filter(|f| f != SOFTWARE_KVM).collect(),
        }
    }

    /// The caveat a timing verdict carries, if any.
    fn timing_caveat(&self) -> String {
        let mut out = String::new();
        if self.vm_software_kvm {
            out += " — but VM timings are on software KVM and mean nothing";
        }
        if !self.vm_other_flags.is_empty() {
            out += &format!(" — VM results flagged: {}", self.vm_other_flags.join(", "));
        }
        out
    }

    pub(super) fn numeric(
        &self,
        property: Property,
        container: Pair,
        vm: Pair,
        format: &dyn Fn(f64) -> String,
    ) -> String {
        let ((c, c_median), (v, v_median)) = match (container, vm) {
            (Some(c), Some(v)) => (c, v),
            (None, None) => return "not measured: no container and no VM result".into(),
            (None, Some(_)) => return "not measured: no container result to compare with".into(),
            (Some(_), None) => return "not measured: no VM result to compare with".into(),
        };
        let textbook = format!(" (textbook: {})", property.textbook());
        let medians = if c_median > 0.0 && (c_median != c || v_median != v) {
            format!("; class medians {}", units::ratio(v_median / c_median))
        } else {
            String::new()
        };
        let values = format!("{} vs {}", format(c), format(v));
        let sentence = match property {
            Property::Startup if c > 0.0 && v >= c => format!(
                "containers start {} faster here ({values}{medians}) — {}",
                units::ratio(v / c),
                scales("containers", duration_scale(c), "VMs", duration_scale(v)),
            ),
            Property::Startup => format!("VMs start faster than containers here ({values}), against the textbook"),
            Property::MemoryOverhead if c <= 0.0 => format!(
                "containers add nothing measurable over a bare process ({}); the leanest VM adds {}",
                format(c),
                format(v)
            ),
            Property::MemoryOverhead if v >= c => format!(
                "VMs cost {} the memory overhead of containers here ({values}{medians})",
                units::ratio(v / c)
            ),
            Property::MemoryOverhead => {
                format!("VMs add less memory than containers here ({values}), against the textbook")
            }
            Property::Disk if c > 0.0 && v >= c => format!(
                "VMs need {} the disk of containers here ({values}{medians}) — {}",
                units::ratio(v / c),
                scales("VMs", byte_scale(v), "containers", byte_scale(c)),
            ),
            Property::Disk => format!("VMs need less disk than containers here ({values}), against the textbook"),
            Property::Runtime if c > 0.0 && v >= c => format!(
                "the probe's work runs {} slower in a VM than in a container here (best VM {}, best container {})",
                units::ratio(v / c),
                format(v),
                format(c)
            ),
            Property::Runtime => format!(
                "the probe's work runs no slower in a VM than in a container here (best VM {}, best container {})",
                format(v),
                format(c)
            ),
            Property::Kernel | Property::Boundary => unreachable!("text rows have no numbers"),
        };
        let caveat = match property {
            Property::Startup | Property::Runtime => self.timing_caveat(),
            _ => String::new(),
        };
        format!("{sentence}{caveat}{textbook}")
    }

    pub(super) fn text(&self, property: Property, containers: &[String], vms: &[String]) -> String {
        let textbook = format!(" (textbook: {})", property.textbook());
        let (Some(container), Some(vm)) = (most_common(containers), most_common(vms)) else {
            return match (containers.is_empty(), vms.is_empty()) {
                (true, true) => "not measured: no container and no VM result".into(),
                (true, false) => "not measured: no container result to compare with".into(),
                _ => "not measured: no VM result to compare with".into(),
            };
        };
        let sentence = match property {
            Property::Kernel => {
                let all = |values: &[String], wanted: &str| values.iter().all(|v| v == wanted);
                if all(vms, "own") && all(containers, "shared") {
                    let vms = match vms.len() {
                        1 => "the VM boots its own kernel".to_string(),
                        2 => "both VMs boot their own kernels".to_string(),
                        n => format!("all {n} VMs boot their own kernels"),
                    };
                    let containers = match containers.len() {
                        1 => "the container shares".to_string(),
                        2 => "both containers share".to_string(),
                        n => format!("all {n} containers share"),
                    };
                    format!("confirmed here: {vms}, {containers} the host's")
                } else {
                    format!(
                        "VM kernels here: {}; container kernels: {}",
                        distinct(vms).join(", "),
                        distinct(containers).join(", ")
                    )
                }
            }
            Property::Boundary => format!(
                "containers are isolated by {container}, VMs by {vm}; isobench measures what isolation costs, not how strong it is"
            ),
            _ => unreachable!("numeric rows have numbers"),
        };
        format!("{sentence}{textbook}")
    }
}

/// `both in milliseconds`, or `containers in milliseconds, VMs in seconds`.
fn scales(first: &str, first_scale: &str, second: &str, second_scale: &str) -> String {
    if first_scale == second_scale {
        format!("both in {first_scale}")
    } else {
        format!("{first} in {first_scale}, {second} in {second_scale}")
    }
}

/// The order of magnitude a duration is counted in.
fn duration_scale(ns: f64) -> &'static str {
    match ns {
        ns if ns < 1e3 => "nanoseconds",
        ns if ns < 1e6 => "microseconds",
        ns if ns < 1e9 => "milliseconds",
        ns if ns < 60e9 => "seconds",
        _ => "minutes",
    }
}

/// The order of magnitude a size is counted in.
fn byte_scale(bytes: f64) -> &'static str {
    const MIB: f64 = 1024.0 * 1024.0;
    match bytes {
        b if b < 1024.0 => "bytes",
        b if b < MIB => "KBs",
        b if b < 1024.0 * MIB => "MBs",
        _ => "GBs",
    }
}

/// The values without repeats, in first-seen order.
pub(super) fn distinct(values: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for value in values {
        if !out.contains(value) {
            out.push(value.clone());
        }
    }
    out
}

/// The most frequent value (the first seen among equals); None when empty.
pub(super) fn most_common(values: &[String]) -> Option<String> {
    let unique = distinct(values);
    let count = |v: &String| values.iter().filter(|x| *x == v).count();
    let mut best: Option<(usize, String)> = None;
    for value in unique {
        let n = count(&value);
        if best.as_ref().is_none_or(|(m, _)| n > *m) {
            best = Some((n, value));
        }
    }
    best.map(|(_, v)| v)
}
