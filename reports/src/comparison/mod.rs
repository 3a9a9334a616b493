//! The "VMs vs containers" table, answered with this run's numbers in two tiers: one row per
//! textbook property, the best and the median isolator of each class, the VM/container ratio
//! and a verdict phrased from the numbers.
//!
//! Classes are isolator kinds: containers (`container`: shared kernel, namespaces, cgroups),
//! sandboxes (`sandbox`: a user-space kernel such as gVisor in front of the host kernel) and
//! VMs (`microvm`: own guest under virtualization). Sandboxes get their own column instead of
//! being grouped: counted as containers they would make containers look slow and heavy,
//! counted as VMs they would flatter VMs, and the textbook table speaks of neither. The ratio
//! and the verdict compare VMs with containers only, best against best (the class medians are
//! shown beside them). The bare process is no class: it is the baseline that memory overhead
//! and runtime performance are measured against.
//!
//! Which VMs a tier compares is [`tiers`]' business: the OS tier (VMs that boot Linux, the
//! textbook's sense, and the headline) and the floor tier (the bare guest, no OS).
//!
//! Pure: everything comes from the record; the renderers lay the [`Comparison`] out.
pub mod json;
mod memory;
mod rows;
mod tiers;
mod verdict;

pub use tiers::{Tier, Virtualization, TIERS};

use crate::schema::{IsolatorRecord, Kind, RunRecord};
use crate::units;

/// The classes compared, in column order.
pub const CLASSES: [Class; 3] = [Class::Container, Class::Sandbox, Class::Vm];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Shared kernel, namespaces and cgroups (kind "container").
    Container,
    /// A user-space kernel in front of the host kernel (kind "sandbox", e.g. gVisor).
    Sandbox,
    /// Own guest under virtualization (kind "microvm"); which ones depends on the [`Tier`].
    Vm,
}

impl Class {
    pub fn label(self) -> &'static str {
        match self {
            Class::Container => "containers",
            Class::Sandbox => "sandboxes",
            Class::Vm => "VMs",
        }
    }

    /// The isolator kind that makes up this class.
    pub fn kind(self) -> Kind {
        match self {
            Class::Container => Kind::Container,
            Class::Sandbox => Kind::Sandbox,
            Class::Vm => Kind::Microvm,
        }
    }
}

/// The textbook properties, in row order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Property {
    Startup,
    MemoryOverhead,
    Disk,
    Kernel,
    Boundary,
    /// The probe's own `work_ns` relative to the bare process (only for workloads that work).
    Runtime,
}

impl Property {
    pub fn label(self) -> &'static str {
        match self {
            Property::Startup => "startup (median)",
            Property::MemoryOverhead => "memory overhead vs process",
            Property::Disk => "disk footprint",
            Property::Kernel => "kernel",
            Property::Boundary => "isolation boundary",
            Property::Runtime => "runtime vs bare process",
        }
    }

    /// The property's name in `comparison.json`, with the unit of its values where it has one.
    pub fn key(self) -> &'static str {
        match self {
            Property::Startup => "startup_ns",
            Property::MemoryOverhead => "memory_overhead_bytes",
            Property::Disk => "disk_bytes",
            Property::Kernel => "kernel",
            Property::Boundary => "boundary",
            Property::Runtime => "runtime_vs_process",
        }
    }

    /// What the textbook table says.
    pub fn textbook(self) -> &'static str {
        match self {
            Property::Startup => "containers start in seconds, VMs in minutes",
            Property::MemoryOverhead | Property::Runtime => {
                "VM overhead is limited, container overhead near native"
            }
            Property::Disk => "VMs need GBs, containers MBs",
            Property::Kernel => "VMs run their own kernel, containers share the host's",
            Property::Boundary => "VMs isolate fully, containers at process level",
        }
    }
}

/// One class's answer for one property.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// The best value, formatted (numeric rows), or the class's most common value (text rows).
    pub best: String,
    /// The best value unformatted (numeric rows), in the unit [`Property::key`] names.
    pub value: Option<f64>,
    /// The isolator that gave the best value (numeric rows).
    pub best_isolator: Option<String>,
    /// The class median, formatted, when the class has more than one isolator.
    pub median: Option<String>,
    /// The class median unformatted (numeric rows), whatever the class size.
    pub median_value: Option<f64>,
    /// How many isolators of the class answered.
    pub isolators: usize,
    /// Whether the isolator behind the value (numeric rows: the best one; text rows: any of
    /// the class) carries a flag such as software KVM; shown as `*`.
    pub flagged: bool,
    /// Whether the best isolator is an emulated VM (no hardware virtualization); said in words.
    pub emulated: bool,
}

impl Cell {
    /// `2.18 ms (container), median 20.1 ms`; `327 ms (runsc)`; `4.10 s (qemu-tcg*, emulated)`;
    /// `shared`.
    pub fn text(&self) -> String {
        let mut out = self.best.clone();
        if let Some(name) = &self.best_isolator {
            let flag = if self.flagged { "*" } else { "" };
            let emulated = if self.emulated { ", emulated" } else { "" };
            out += &format!(" ({name}{flag}{emulated})");
        }
        if let Some(median) = &self.median {
            out += &format!(", median {median}");
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub property: Property,
    /// One cell per entry of [`CLASSES`]; None when the class was not measured.
    pub cells: Vec<Option<Cell>>,
    /// VM best / container best, where both exist and the quotient means something.
    pub ratio: Option<f64>,
    pub verdict: String,
    /// Which figure the row compares, where there is a choice (the memory row: `host cost:
    /// system-wide, batches of 10` or `attributed: PSS + cgroup kernel`).
    pub source: Option<String>,
}

impl Row {
    /// The property's label, with the row's source in brackets where it has one.
    pub fn label(&self) -> String {
        match &self.source {
            Some(source) => format!("{} ({source})", self.property.label()),
            None => self.property.label().to_string(),
        }
    }

    /// The row as plain text cells, as the Markdown and terminal tables show it: the label,
    /// one cell per entry of [`CLASSES`] ([`NOT_MEASURED`] where empty), then the ratio ("—"
    /// where none). The verdict is left to the caller.
    pub fn text_cells(&self) -> Vec<String> {
        let mut cells = vec![self.label()];
        cells.extend(
            self.cells
                .iter()
                .map(|cell| cell.as_ref().map_or(NOT_MEASURED.to_string(), Cell::text)),
        );
        cells.push(self.ratio.map_or("—".into(), units::ratio));
        cells
    }
}

/// The VMs one tier compares: all of the same guest and the same virtualization.
#[derive(Debug, Clone, PartialEq)]
pub struct VmGroup {
    pub virtualization: Virtualization,
    /// The isolators, in run order.
    pub names: Vec<String>,
}

/// One tier of the table: containers and sandboxes against one [`VmGroup`].
#[derive(Debug, Clone, PartialEq)]
pub struct TierTable {
    pub tier: Tier,
    /// The VMs compared, or why this tier has none, in one line
    /// (`no Linux-guest VM measured: microvm-linux unavailable`).
    pub vms: Result<VmGroup, String>,
    /// Every property; when `vms` is an error their VM cells are empty and the renderers show
    /// the reason instead of the table.
    pub rows: Vec<Row>,
}

impl TierTable {
    pub fn row(&self, property: Property) -> Option<&Row> {
        self.rows.iter().find(|r| r.property == property)
    }

    /// What the tier compares and which VMs it took, or why none: `containers against VMs
    /// that boot a Linux kernel — qemu-tcg, emulated: no hardware virtualization (QEMU TCG)`.
    pub fn description(&self) -> String {
        let what = self.tier.summary();
        match &self.vms {
            Ok(group) => format!(
                "{what} — {}, {}",
                group.names.join(", "),
                group.virtualization.describe()
            ),
            Err(missing) => format!("{what} — {missing}"),
        }
    }

    /// The line above the tier's table in plain text: the tier's title, then
    /// [`description`](Self::description).
    pub fn heading(&self) -> String {
        format!("{}: {}", self.tier.title(), self.description())
    }
}

/// The whole table: one [`TierTable`] per entry of [`TIERS`], the OS tier first.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub tiers: Vec<TierTable>,
}

impl Comparison {
    pub fn tier(&self, tier: Tier) -> &TierTable {
        self.tiers
            .iter()
            .find(|t| t.tier == tier)
            .expect("compare builds every tier")
    }

    /// The tier the headline verdicts come from: VMs with an OS, the textbook's sense.
    pub fn headline(&self) -> &TierTable {
        self.tier(Tier::Os)
    }
}

/// The text shown for a class that has no result.
pub const NOT_MEASURED: &str = "not measured";

/// Builds both tiers from the record.
pub fn compare(record: &RunRecord) -> Comparison {
    let containers = members(record, Class::Container);
    let sandboxes = members(record, Class::Sandbox);
    let tiers = TIERS
        .iter()
        .map(|&tier| {
            let selected = tiers::select(record, tier);
            let vms = selected
                .as_ref()
                .map(|(_, vms)| vms.clone())
                .unwrap_or_default();
            let virtualization = selected.as_ref().ok().map(|(v, _)| *v);
            let columns = [containers.clone(), sandboxes.clone(), vms];
            let rows = rows::rows(record, tier, virtualization, &columns);
            TierTable {
                tier,
                vms: selected.map(|(virtualization, vms)| VmGroup {
                    virtualization,
                    names: vms.iter().map(|i| i.name.clone()).collect(),
                }),
                rows,
            }
        })
        .collect();
    Comparison { tiers }
}

/// Measured isolators of `class` (available, with a summary); for [`Class::Vm`] every VM of
/// either guest, before a tier picks its own.
pub fn members(record: &RunRecord, class: Class) -> Vec<&IsolatorRecord> {
    record
        .isolators
        .iter()
        .filter(|i| i.kind == class.kind() && measured(i))
        .collect()
}

/// Available and summarized: it has numbers to compare.
fn measured(isolator: &IsolatorRecord) -> bool {
    isolator.status.is_available() && isolator.summary.is_some()
}
