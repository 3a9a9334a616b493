//! The verdict column: one plain sentence per property, phrased from the measured numbers and
//! set against the textbook claim, with the caveats the tier's VMs carry (software KVM,
//! emulation, other flags) and, in the floor tier, that its guest has no OS.
use super::tiers::{Tier, Virtualization};
use super::Property;
use crate::schema::{Flag, IsolatorRecord, KernelKind};
use crate::units;

/// What every verdict of a tier needs to know besides the row's numbers.
pub(super) struct Verdicts {
    tier: Tier,
    /// How the tier's VMs ran; None when it has none.
    virtualization: Option<Virtualization>,
    /// Flags the tier's VMs carry besides how they ran (noisy, few samples); host-cost-noisy
    /// is a memory caveat, not a timing one.
    vm_other_flags: Vec<Flag>,
    /// Compared isolators whose host cost is flagged noisy, when the memory row uses host cost.
    memory_noisy: Vec<String>,
    /// The memory row compares whole footprints (see [`Verdicts::memory_is_footprint`]).
    memory_footprint: bool,
}

/// (best, class median) of one class.
type Pair = Option<(f64, f64)>;

impl Verdicts {
    pub(super) fn new(
        tier: Tier,
        virtualization: Option<Virtualization>,
        vms: &[&IsolatorRecord],
    ) -> Verdicts {
        let flags: Vec<Flag> =
            distinct(&vms.iter().flat_map(|i| i.flags.clone()).collect::<Vec<_>>());
        Verdicts {
            tier,
            virtualization,
            vm_other_flags: flags
                .into_iter()
                .filter(|f| !matches!(f, Flag::SoftwareKvm | Flag::Emulated | Flag::HostCostNoisy))
                .collect(),
            memory_noisy: Vec::new(),
            memory_footprint: false,
        }
    }

    /// The memory row compares whole footprints (no process baseline in the run), not overheads.
    pub(super) fn memory_is_footprint(&mut self, footprint: bool) {
        self.memory_footprint = footprint;
    }

    /// The memory row compares host costs, and these isolators' are flagged noisy.
    pub(super) fn memory_noisy(&mut self, names: &[String]) {
        self.memory_noisy = names.to_vec();
    }

    /// The caveat a timing verdict carries, if any.
    fn timing_caveat(&self) -> String {
        let mut out = match self.virtualization {
            Some(Virtualization::SoftwareKvm) => {
                " — but VM timings are on software KVM and mean nothing".to_string()
            }
            Some(Virtualization::Emulated) => " — but the VM is emulated (QEMU TCG, no hardware virtualization): its timings are not a KVM VM's".to_string(),
            _ => String::new(),
        };
        out += &self.other_flags();
        out
    }

    /// The caveat a memory verdict carries, if any.
    fn memory_caveat(&self) -> String {
        let mut out = match self.virtualization {
            Some(Virtualization::Emulated) => {
                " — the VM is emulated (QEMU TCG): its memory is an emulator's, not a KVM VM's"
                    .to_string()
            }
            _ => String::new(),
        };
        if !self.memory_noisy.is_empty() {
            out += &format!(
                " — host cost flagged {} for {}",
                Flag::HostCostNoisy,
                self.memory_noisy.join(", ")
            );
        }
        out
    }

    fn other_flags(&self) -> String {
        if self.vm_other_flags.is_empty() {
            return String::new();
        }
        let flags: Vec<&str> = self.vm_other_flags.iter().map(|f| f.as_str()).collect();
        format!(" — VM results flagged: {}", flags.join(", "))
    }

    /// Said when a bare-guest VM beats containers against the textbook: it has no OS to carry.
    fn floor_note(&self) -> &'static str {
        match self.tier {
            Tier::Floor => " — the bare guest has no OS",
            Tier::Os => "",
        }
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
        // Against the textbook the VM comes first in the sentence, so its figure does too.
        let labelled = format!("VM {} vs container {}", format(v), format(c));
        let sentence = match property {
            Property::Startup if c > 0.0 && v >= c => format!(
                "containers start {} faster here ({values}{medians}) — {}",
                units::ratio(v / c),
                scales("containers", duration_scale(c), "VMs", duration_scale(v)),
            ),
            Property::Startup => format!("VMs start faster than containers here ({labelled}), against the textbook{}", self.floor_note()),
            Property::MemoryOverhead if c <= 0.0 => format!(
                "containers add nothing measurable over a bare process ({}); the leanest VM adds {}",
                format(c),
                format(v)
            ),
            Property::MemoryOverhead if v >= c => format!(
                "VMs cost {} the memory {} of containers here ({values}{medians})",
                units::ratio(v / c),
                match self.memory_footprint {
                    true => "(whole footprint)",
                    false => "overhead",
                }
            ),
            Property::MemoryOverhead => {
                format!("VMs add less memory than containers here ({labelled}), against the textbook{}", self.floor_note())
            }
            Property::Disk if c > 0.0 && v >= c => format!(
                "VMs need {} the disk of containers here ({values}{medians}) — {}",
                units::ratio(v / c),
                scales("VMs", byte_scale(v), "containers", byte_scale(c)),
            ),
            Property::Disk => format!("VMs need less disk than containers here ({labelled}), against the textbook{}", self.floor_note()),
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
            Property::MemoryOverhead => self.memory_caveat(),
            _ => String::new(),
        };
        format!("{sentence}{caveat}{textbook}")
    }

    /// The kernel row: whether VMs boot their own kernels and containers share the host's.
    pub(super) fn kernel(&self, containers: &[KernelKind], vms: &[KernelKind]) -> String {
        if let Some(missing) = not_measured(containers.is_empty(), vms.is_empty()) {
            return missing;
        }
        let sentence = if vms.iter().all(|k| *k == KernelKind::Own)
            && containers.iter().all(|k| *k == KernelKind::Shared)
        {
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
            let names = |kinds: &[KernelKind]| {
                let names: Vec<&str> = distinct(kinds).iter().map(|k| k.as_str()).collect();
                names.join(", ")
            };
            format!(
                "VM kernels here: {}; container kernels: {}",
                names(vms),
                names(containers)
            )
        };
        format!("{sentence} (textbook: {})", Property::Kernel.textbook())
    }

    /// The floor tier's kernel row: the bare guest boots no kernel at all.
    pub(super) fn floor_kernel(&self, containers: &[String], vms: &[String]) -> String {
        if let Some(missing) = not_measured(containers.is_empty(), vms.is_empty()) {
            return missing;
        }
        let shared = KernelKind::Shared.as_str();
        let containers = if containers.iter().all(|k| k == shared) {
            "containers share the host's".to_string()
        } else {
            format!("container kernels: {}", distinct(containers).join(", "))
        };
        format!(
            "the bare guest boots no kernel: the least a VM costs, not the textbook's VM with its own OS (see the OS tier); {containers} (textbook: {})",
            Property::Kernel.textbook()
        )
    }

    /// The isolation-boundary row: what isolates each class, most common first.
    pub(super) fn boundary(&self, containers: &[String], vms: &[String]) -> String {
        let (Some(container), Some(vm)) = (most_common(containers), most_common(vms)) else {
            return not_measured(containers.is_empty(), vms.is_empty()).unwrap_or_default();
        };
        format!(
            "containers are isolated by {container}, VMs by {vm}; isobench measures what isolation costs, not how strong it is (textbook: {})",
            Property::Boundary.textbook()
        )
    }
}

/// The verdict of a row that lacks a side; None when both sides have results.
fn not_measured(no_containers: bool, no_vms: bool) -> Option<String> {
    Some(match (no_containers, no_vms) {
        (true, true) => "not measured: no container and no VM result".into(),
        (true, false) => "not measured: no container result to compare with".into(),
        (false, true) => "not measured: no VM result to compare with".into(),
        (false, false) => return None,
    })
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
pub(super) fn distinct<T: Clone + PartialEq>(values: &[T]) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for value in values {
        if !out.contains(value) {
            out.push(value.clone());
        }
    }
    out
}

/// The most frequent value (the first seen among equals); None when empty.
pub(super) fn most_common<T: Clone + PartialEq>(values: &[T]) -> Option<T> {
    let unique = distinct(values);
    let count = |v: &T| values.iter().filter(|x| *x == v).count();
    let mut best: Option<(usize, T)> = None;
    for value in unique {
        let n = count(&value);
        if best.as_ref().is_none_or(|(m, _)| n > *m) {
            best = Some((n, value));
        }
    }
    best.map(|(_, v)| v)
}
