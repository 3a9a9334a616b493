//! Turns trial results into the versioned record: samples, summaries, overheads and warnings.
use std::collections::BTreeMap;

use isolators::{DiskFootprint, Isolator, MemoryUsage};
use reports::{
    DiskRecord, IsolatorRecord, IsolatorSummary, MemorySample, Phase, RunRecord, Sample, Warning,
};

use crate::stats::summarize;
use crate::trial::TrialResult;

/// Fewer measured runs than this and the statistics are flagged as thin.
pub const MIN_TRUSTWORTHY_RUNS: u32 = 10;
/// A startup coefficient of variation above this marks a noisy host or isolator.
pub const NOISY_CV: f64 = 0.5;

/// How an isolator that was available but could not be prepared is marked in its
/// `unavailable_reason`: such a run or density exits with status 1.
pub const PREPARE_FAILED: &str = "prepare failed";

/// The closing line naming the isolators of `record` that were available but failed to
/// prepare, if any did (then `run` and `density` exit with status 1).
pub fn prepare_failures(record: &RunRecord) -> Option<String> {
    let failed: Vec<&str> = record
        .isolators
        .iter()
        .filter(|i| {
            i.unavailable_reason
                .as_deref()
                .is_some_and(|r| r.starts_with(PREPARE_FAILED))
        })
        .map(|i| i.name.as_str())
        .collect();
    (!failed.is_empty()).then(|| {
        format!(
            "isobench: not measured, failed to prepare: {}",
            failed.join(", ")
        )
    })
}

/// A fresh record for one isolator, before any trial.
pub fn isolator_record(
    isolator: &dyn Isolator,
    unavailable_reason: Option<String>,
) -> IsolatorRecord {
    let description = isolator.describe();
    IsolatorRecord {
        name: isolator.name().to_string(),
        kind: serde_name(&isolator.kind()),
        kernel: serde_name(&description.kernel),
        boundary: description.boundary,
        version: description.version,
        notes: description.notes,
        unavailable_reason,
        disk: None,
        samples: Vec::new(),
        failures: Vec::new(),
        summary: None,
        flags: Vec::new(),
    }
}

/// The lowercase name serde gives an enum variant ("microvm", "shared").
fn serde_name(value: &impl serde::Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

// TEMP(one-vocabulary): the schema's DiskRecord becomes the protocol's DiskFootprint.
pub fn disk_record(disk: &DiskFootprint) -> DiskRecord {
    DiskRecord {
        runtime_apparent_bytes: disk.runtime_apparent_bytes,
        runtime_allocated_bytes: disk.runtime_allocated_bytes,
        image_apparent_bytes: disk.image_apparent_bytes,
        image_allocated_bytes: disk.image_allocated_bytes,
        runtime_files: disk.runtime_files.clone(),
        image_files: disk.image_files.clone(),
    }
}

pub fn sample(trial: u32, sequence: u32, result: &TrialResult) -> Sample {
    Sample {
        trial,
        sequence,
        startup_ns: result.startup_ns,
        phases: result
            .ready
            .phases
            .iter()
            .map(|(name, at_ns)| Phase {
                name: name.clone(),
                at_ns: *at_ns,
            })
            .collect(),
        memory: memory_sample(&result.memory),
        memory_overhead_bytes: None,
        teardown_ns: result.teardown_ns,
        probe_report: result.ready.report.clone(),
    }
}

fn memory_sample(memory: &MemoryUsage) -> MemorySample {
    MemorySample {
        pss_bytes: memory.pss_bytes,
        rss_bytes: memory.rss_bytes,
        processes: memory.processes,
        cgroup_bytes: memory.cgroup_bytes,
        cgroup_kernel_bytes: memory.cgroup_kernel_bytes,
        guest_ram_resident_bytes: memory.guest_ram_resident_bytes,
        vmm_overhead_bytes: memory.vmm_overhead_bytes,
        footprint_bytes: memory.footprint_bytes(),
    }
}

/// Recomputes every derived field: overheads against the process baseline, summaries,
/// per-isolator flags and run-wide warnings. Idempotent: call at every checkpoint.
pub fn finish(record: &mut RunRecord, software_kvm: bool) {
    let baseline = record
        .isolator("process")
        .and_then(|p| {
            summarize(
                &p.samples
                    .iter()
                    .map(|s| s.memory.footprint_bytes as f64)
                    .collect::<Vec<_>>(),
            )
        })
        .map(|s| s.median);
    let mut warnings = Vec::new();
    for isolator in &mut record.isolators {
        for sample in &mut isolator.samples {
            sample.memory_overhead_bytes =
                baseline.map(|b| sample.memory.footprint_bytes as i64 - b.round() as i64);
        }
        isolator.summary = summary(isolator);
        isolator.flags = flags(isolator, software_kvm, record.config.runs);
        for flag in &isolator.flags {
            warnings.push(warning_for(&isolator.name, flag));
        }
        for note in &isolator.notes {
            warnings.push(Warning {
                code: "engine-workaround".into(),
                isolator: Some(isolator.name.clone()),
                message: format!("{}: {note}", isolator.name),
            });
        }
    }
    if record.config.runs < MIN_TRUSTWORTHY_RUNS {
        warnings.push(Warning {
            code: "too-few-runs".into(),
            isolator: None,
            message: format!(
                "only {} runs per isolator: medians and intervals are rough (use --runs {} or more)",
                record.config.runs, MIN_TRUSTWORTHY_RUNS * 3
            ),
        });
    }
    let busy = record.host.loadavg_start.max(record.host.loadavg_end);
    if busy > record.host.cores as f64 * 0.5 {
        warnings.push(Warning {
            code: "noisy-host".into(),
            isolator: None,
            message: format!(
                "load average {busy:.2} on {} cores: other work competed with the benchmark",
                record.host.cores
            ),
        });
    }
    record.warnings = warnings;
}

fn summary(isolator: &IsolatorRecord) -> Option<IsolatorSummary> {
    let samples = &isolator.samples;
    let metric = |f: &dyn Fn(&Sample) -> Option<f64>| {
        summarize(&samples.iter().filter_map(f).collect::<Vec<_>>())
    };
    let mut phases: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for sample in samples {
        for phase in &sample.phases {
            phases
                .entry(phase.name.clone())
                .or_default()
                .push(phase.at_ns as f64);
        }
    }
    Some(IsolatorSummary {
        startup_ns: metric(&|s| Some(s.startup_ns as f64))?,
        teardown_ns: metric(&|s| Some(s.teardown_ns as f64))?,
        footprint_bytes: metric(&|s| Some(s.memory.footprint_bytes as f64))?,
        memory_overhead_bytes: metric(&|s| s.memory_overhead_bytes.map(|b| b as f64)),
        vmm_overhead_bytes: metric(&|s| s.memory.vmm_overhead_bytes.map(|b| b as f64)),
        phase_medians_ns: phases
            .into_iter()
            .filter_map(|(name, values)| Some((name, summarize(&values)?.median)))
            .collect(),
    })
}

fn flags(isolator: &IsolatorRecord, software_kvm: bool, runs: u32) -> Vec<String> {
    let mut flags = Vec::new();
    if isolator.kind == "microvm" && software_kvm && isolator.unavailable_reason.is_none() {
        flags.push("software-kvm".to_string());
    }
    if let Some(summary) = &isolator.summary {
        if summary.startup_ns.coefficient_of_variation > NOISY_CV {
            flags.push("noisy".to_string());
        }
        if summary.startup_ns.n < runs.min(MIN_TRUSTWORTHY_RUNS) {
            flags.push("few-samples".to_string());
        }
    }
    flags
}

fn warning_for(isolator: &str, flag: &str) -> Warning {
    let message = match flag {
        "software-kvm" => format!("{isolator}: /dev/kvm is software (kvm_pvm) here; VM timings do not reflect hardware virtualization"),
        "noisy" => format!("{isolator}: startup varies by more than {:.0}% (σ/mean); treat its mean with care", NOISY_CV * 100.0),
        "few-samples" => format!("{isolator}: fewer successful trials than asked; see its failures"),
        other => format!("{isolator}: {other}"),
    };
    Warning {
        code: flag.to_string(),
        isolator: Some(isolator.to_string()),
        message,
    }
}
