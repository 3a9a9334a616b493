//! Which memory figure the comparison's memory row compares, and the words that say so: the host
//! cost (system-wide growth per instance over held batches, minus the process baseline's) where
//! it was measured for the isolators of the row, else the attributed overhead (PSS + cgroup
//! kernel memory), and in a run with no process baseline to subtract (a user workload in its own
//! rootfs) each instance's whole footprint, said so. Never a mix: the ratio sets one class's
//! figure against another's.
use super::rows::Columns;
use super::{Class, CLASSES};
use crate::host_cost;
use crate::schema::{Flag, IsolatorRecord};

/// The figure chosen for one tier's memory row.
pub(super) struct MemorySource<'a> {
    pub figure: Figure,
    /// The isolators compared: with the host cost, only those that have one.
    pub columns: Columns<'a>,
    /// `host cost: system-wide, batches of 10; not measured for docker`.
    pub description: String,
    /// Compared containers and VMs whose host cost is flagged noisy, by name.
    pub noisy: Vec<String>,
}

/// Which figure a memory row compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Figure {
    /// The host cost over the process baseline's.
    Host,
    /// PSS + cgroup kernel memory over the process baseline's.
    Attributed,
    /// The whole footprint (PSS + cgroup kernel memory): no baseline to subtract.
    Footprint,
}

impl MemorySource<'_> {
    /// The isolator's figure from the chosen source.
    pub fn value(&self, isolator: &IsolatorRecord) -> Option<f64> {
        match self.figure {
            Figure::Host => host(isolator),
            Figure::Attributed => attributed(isolator),
            Figure::Footprint => footprint(isolator),
        }
    }
}

/// The whole footprint per instance, for a run without a process baseline.
fn footprint(isolator: &IsolatorRecord) -> Option<f64> {
    Some(isolator.summary.as_ref()?.footprint_bytes.median)
}

/// The attributed overhead: median of the trials' footprint minus the process baseline's.
fn attributed(isolator: &IsolatorRecord) -> Option<f64> {
    Some(
        isolator
            .summary
            .as_ref()?
            .memory_overhead_bytes
            .as_ref()?
            .median,
    )
}

/// The host cost over the process baseline's.
fn host(isolator: &IsolatorRecord) -> Option<f64> {
    isolator.host_cost.as_ref()?.overhead_bytes
}

/// The host cost when every class with an attributed overhead has at least one isolator with a
/// host cost, else the attributed overhead for all.
pub(super) fn choose<'a>(columns: &Columns<'a>) -> MemorySource<'a> {
    let keep = |f: fn(&IsolatorRecord) -> Option<f64>| -> Columns<'a> {
        columns
            .clone()
            .map(|members| members.into_iter().filter(|i| f(i).is_some()).collect())
    };
    let (with_attributed, with_host) = (keep(attributed), keep(host));
    if with_attributed.iter().all(Vec::is_empty) && with_host.iter().all(Vec::is_empty) {
        return MemorySource {
            figure: Figure::Footprint,
            columns: keep(footprint),
            description: "whole footprint per instance (PSS + cgroup kernel), not an overhead: no process baseline in this run".into(),
            noisy: Vec::new(),
        };
    }
    let lacking: Vec<Class> = CLASSES
        .iter()
        .zip(with_attributed.iter().zip(&with_host))
        .filter(|(_, (a, h))| !a.is_empty() && h.is_empty())
        .map(|(class, _)| *class)
        .collect();
    let any_host = with_host.iter().any(|members| !members.is_empty());
    if !any_host || !lacking.is_empty() {
        let mut description = "attributed: PSS + cgroup kernel".to_string();
        if any_host {
            let classes: Vec<&str> = lacking.iter().map(|c| c.label()).collect();
            description += &format!("; no host cost for {}", classes.join(" or "));
        }
        return MemorySource {
            figure: Figure::Attributed,
            columns: with_attributed,
            description,
            noisy: Vec::new(),
        };
    }
    let batch = host_cost::batch_sizes(with_host.iter().flatten().copied()).unwrap_or_default();
    let mut description = format!("host cost: system-wide, batches of {batch}");
    let missing: Vec<&str> = with_attributed
        .iter()
        .flatten()
        .filter(|i| host(i).is_none())
        .map(|i| i.name.as_str())
        .collect();
    if !missing.is_empty() {
        description += &format!("; not measured for {}", missing.join(", "));
    }
    let of = |class: Class| &with_host[CLASSES.iter().position(|c| *c == class).expect("listed")];
    let noisy = of(Class::Container)
        .iter()
        .chain(of(Class::Vm))
        .filter(|i| i.flags.contains(&Flag::HostCostNoisy))
        .map(|i| i.name.clone())
        .collect();
    MemorySource {
        figure: Figure::Host,
        columns: with_host,
        description,
        noisy,
    }
}
