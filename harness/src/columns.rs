//! What a run keeps in memory of its samples: per isolator, only the values its summaries read
//! (startup, teardown, footprint, VMM overhead, CPU, and each phase's stamps by name), in run
//! order, a few dozen bytes a trial, so that every median, percentile, interval and outlier
//! stays exact. Whole samples go to the samples log only ([`crate::checkpoint`]).
use std::collections::BTreeMap;

use reports::{IsolatorSummary, Sample};

use crate::stats::summarize;

/// One isolator's measured samples, as columns.
#[derive(Debug, Default, Clone)]
pub struct Columns {
    startup_ns: Vec<u64>,
    teardown_ns: Vec<u64>,
    footprint_bytes: Vec<u64>,
    /// The values of the samples that have one, in order (a summary leaves the others out).
    vmm_overhead_bytes: Vec<u64>,
    /// As `vmm_overhead_bytes`.
    cpu_ns: Vec<u64>,
    /// Phase name → its stamps (ns since launch), in order.
    phases_ns: BTreeMap<String, Vec<u64>>,
}

impl Columns {
    /// Room for `runs` samples, taken from the allocator as they come (untouched pages cost no
    /// memory), so the columns do not double past what the run asks for.
    pub fn with_capacity(runs: usize) -> Columns {
        Columns {
            startup_ns: Vec::with_capacity(runs),
            teardown_ns: Vec::with_capacity(runs),
            footprint_bytes: Vec::with_capacity(runs),
            ..Columns::default()
        }
    }

    /// Keeps what the summaries read of `sample`.
    pub fn push(&mut self, sample: &Sample) {
        self.startup_ns.push(sample.startup_ns);
        self.teardown_ns.push(sample.teardown_ns);
        self.footprint_bytes.push(sample.memory.footprint_bytes);
        self.vmm_overhead_bytes
            .extend(sample.memory.usage.vmm_overhead_bytes);
        self.cpu_ns.extend(sample.cpu_ns);
        for phase in &sample.phases {
            match self.phases_ns.get_mut(phase.name.as_str()) {
                Some(stamps) => stamps.push(phase.at_ns),
                None => {
                    self.phases_ns.insert(phase.name.clone(), vec![phase.at_ns]);
                }
            }
        }
    }

    /// Samples measured.
    pub fn len(&self) -> usize {
        self.startup_ns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.startup_ns.is_empty()
    }

    /// The median footprint: the baseline every overhead is measured against, when these are
    /// the process isolator's.
    pub fn footprint_median_bytes(&self) -> Option<f64> {
        Some(summarize(&floats(&self.footprint_bytes))?.median)
    }

    /// Every metric's summary, the memory overhead against `baseline_bytes` (rounded, as each
    /// sample's `memory_overhead_bytes` is); None without samples.
    pub fn summary(&self, baseline_bytes: Option<f64>) -> Option<IsolatorSummary> {
        let overhead = |baseline: f64| -> Vec<f64> {
            let baseline = baseline.round() as i64;
            (self.footprint_bytes.iter())
                .map(|&bytes| (bytes as i64 - baseline) as f64)
                .collect()
        };
        Some(IsolatorSummary {
            startup_ns: summarize(&floats(&self.startup_ns))?,
            teardown_ns: summarize(&floats(&self.teardown_ns))?,
            footprint_bytes: summarize(&floats(&self.footprint_bytes))?,
            memory_overhead_bytes: baseline_bytes.and_then(|b| summarize(&overhead(b))),
            vmm_overhead_bytes: summarize(&floats(&self.vmm_overhead_bytes)),
            cpu_ns: summarize(&floats(&self.cpu_ns)),
            phase_medians_ns: (self.phases_ns.iter())
                .filter_map(|(name, stamps)| {
                    Some((name.clone(), summarize(&floats(stamps))?.median))
                })
                .collect(),
        })
    }
}

fn floats(values: &[u64]) -> Vec<f64> {
    values.iter().map(|&v| v as f64).collect()
}

#[cfg(test)]
mod tests {
    use reports::{MemorySample, Phase};

    use super::*;

    fn sample(i: u64) -> Sample {
        let mut memory = MemorySample {
            footprint_bytes: 1000 + i * 10,
            ..Default::default()
        };
        memory.usage.vmm_overhead_bytes = (i % 2 == 0).then_some(i);
        Sample {
            startup_ns: if i == 39 { 1_000_000 } else { 500 + i },
            teardown_ns: 90 - i,
            memory,
            cpu_ns: (i > 2).then_some(i * 3),
            phases: (0..i % 3)
                .map(|p| Phase {
                    name: format!("phase-{p}"),
                    at_ns: i + p,
                })
                .collect(),
            ..Default::default()
        }
    }

    /// The columns summarise as the whole samples would: each metric over the samples that
    /// have it, in order (so outliers index the same values).
    #[test]
    fn summarises_as_the_whole_samples_would() {
        let samples: Vec<Sample> = (0..40).map(sample).collect();
        let mut columns = Columns::with_capacity(4);
        samples.iter().for_each(|s| columns.push(s));
        let summary = columns.summary(Some(1100.4)).unwrap();
        let of = |f: &dyn Fn(&Sample) -> Option<f64>| {
            summarize(&samples.iter().filter_map(f).collect::<Vec<_>>())
        };
        assert_eq!(columns.len(), 40);
        assert_eq!(
            Some(summary.startup_ns.clone()),
            of(&|s| Some(s.startup_ns as f64))
        );
        assert!(
            !summary.startup_ns.outliers.is_empty(),
            "the last is an outlier"
        );
        assert_eq!(
            Some(summary.teardown_ns),
            of(&|s| Some(s.teardown_ns as f64))
        );
        assert_eq!(
            summary.memory_overhead_bytes,
            of(&|s| Some(s.memory.footprint_bytes as f64 - 1100.0))
        );
        assert_eq!(
            summary.vmm_overhead_bytes,
            of(&|s| s.memory.usage.vmm_overhead_bytes.map(|b| b as f64))
        );
        assert_eq!(summary.cpu_ns, of(&|s| s.cpu_ns.map(|ns| ns as f64)));
        assert_eq!(
            summary.phase_medians_ns.keys().collect::<Vec<_>>(),
            ["phase-0", "phase-1"]
        );
        let phase_1 = of(&|s| Some(s.phases.get(1)?.at_ns as f64)).unwrap();
        assert_eq!(summary.phase_medians_ns["phase-1"], phase_1.median);
        assert_eq!(columns.footprint_median_bytes(), Some(1195.0));
        assert!(Columns::default().summary(None).is_none());
    }
}
