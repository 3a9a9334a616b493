//! Turns trial results into the versioned record: samples, summaries, overheads and warnings.
use isolators::Isolator;
use reports::{
    Flag, HostFingerprint, IsolatorRecord, Kind, Phase, RunConfig, RunRecord, Sample, Status,
    Warning, WarningCode, SCHEMA_VERSION,
};

use crate::columns::Columns;
use crate::output::utc_timestamp;
use crate::trial::TrialResult;

/// Fewer measured runs than this and the statistics are flagged as thin.
pub const MIN_TRUSTWORTHY_RUNS: u32 = 10;
/// A startup coefficient of variation above this marks a noisy host or isolator.
pub const NOISY_CV: f64 = 0.5;

/// The closing line naming the isolators of `record` that were available but failed to
/// prepare, if any did (then `run` and `density` exit with status 1).
pub fn prepare_failures(record: &RunRecord) -> Option<String> {
    let failed: Vec<&str> = record
        .isolators
        .iter()
        .filter(|i| matches!(i.status, Status::PrepareFailed { .. }))
        .map(|i| i.name.as_str())
        .collect();
    (!failed.is_empty()).then(|| {
        format!(
            "isobench: not measured, failed to prepare: {}",
            failed.join(", ")
        )
    })
}

/// How the trials of a run went, for the terminal and the exit status.
#[derive(Debug, Default, PartialEq)]
pub struct TrialFailures {
    /// One line per available isolator with failed trials: "docker: 29 samples, 71 failed:
    /// <first error>".
    pub lines: Vec<String>,
    /// Available, prepared isolators that produced no sample at all (the run exits 1).
    pub without_samples: Vec<String>,
}

/// Per-isolator failure counts and first errors of a run's trials (warm-ups included).
pub fn trial_failures(record: &RunRecord) -> TrialFailures {
    let mut found = TrialFailures::default();
    for isolator in record
        .isolators
        .iter()
        .filter(|i| i.status == Status::Available)
    {
        let (samples, failed) = (isolator.sample_count(), isolator.failures.len());
        if let Some(first) = isolator.failures.first() {
            found.lines.push(format!(
                "{}: {samples} samples, {failed} failed: {}",
                isolator.name, first.message
            ));
        }
        if samples == 0 {
            found.without_samples.push(isolator.name.clone());
        }
    }
    found
}

/// A new record of a run (or a density measurement) by this build on this host, before any
/// isolator: started now, incomplete.
pub fn new_run(config: RunConfig, host: HostFingerprint) -> RunRecord {
    let now = utc_timestamp();
    RunRecord {
        schema_version: SCHEMA_VERSION,
        isobench_version: env!("CARGO_PKG_VERSION").to_string(),
        git_revision: env!("ISOBENCH_GIT_REVISION").to_string(),
        started_at: now.clone(),
        updated_at: now,
        complete: false,
        config,
        host,
        isolators: Vec::new(),
        warnings: Vec::new(),
        density: Vec::new(),
        samples_file: None,
        burst: Vec::new(),
    }
}

/// The record's status of an isolator the host can or cannot run.
pub fn status(availability: isolators::Availability) -> Status {
    match availability {
        isolators::Availability::Available => Status::Available,
        isolators::Availability::Unavailable { reason } => Status::Unavailable { reason },
    }
}

/// A fresh record for one isolator, before any trial.
pub fn isolator_record(isolator: &dyn Isolator, status: Status) -> IsolatorRecord {
    let description = isolator.describe();
    IsolatorRecord {
        name: isolator.name().to_string(),
        kind: isolator.kind(),
        kernel: description.kernel,
        guest: Some(isolator.guest()),
        emulated: isolator.emulated(),
        warm_start: isolator.warm_start(),
        boundary: description.boundary,
        version: description.version,
        notes: description.notes,
        status,
        disk: None,
        samples: Vec::new(),
        failures: Vec::new(),
        summary: None,
        flags: Vec::new(),
        host_cost: None,
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
        memory: result.memory.clone().into(),
        memory_overhead_bytes: None,
        teardown_ns: result.teardown_ns,
        cpu_ns: result.cpu_ns,
        probe_report: result.ready.report.iter().collect(),
    }
}

/// Recomputes every derived field from `columns` (one per isolator of `record`, in order):
/// summaries with the overheads against the process baseline, per-isolator flags and run-wide
/// warnings. Idempotent: call at every checkpoint. Each sample's `memory_overhead_bytes` is
/// written with the final run.json ([`reports::samples::Log`]), against the same baseline.
pub fn finish(record: &mut RunRecord, columns: &[Columns], software_kvm: bool) {
    crate::host_cost::finish(record);
    let baseline = (record.isolators.iter())
        .position(|i| i.name == "process")
        .and_then(|p| columns[p].footprint_median_bytes());
    let mut warnings = Vec::new();
    for (isolator, columns) in record.isolators.iter_mut().zip(columns) {
        isolator.summary = columns.summary(baseline);
        isolator.flags = flags(isolator, software_kvm, record.config.runs);
        for &flag in &isolator.flags {
            warnings.push(warning_for(&isolator.name, flag));
        }
        // An engine's deviations matter where it was measured; an unavailable one has its reason.
        let notes = match isolator.status.is_available() {
            true => isolator.notes.as_slice(),
            false => &[],
        };
        for note in notes {
            warnings.push(Warning {
                code: WarningCode::EngineWorkaround,
                isolator: Some(isolator.name.clone()),
                message: format!("{}: {note}", isolator.name),
            });
        }
    }
    if record.config.runs < MIN_TRUSTWORTHY_RUNS {
        warnings.push(Warning {
            code: WarningCode::TooFewRuns,
            isolator: None,
            message: format!(
                "only {} runs per isolator: medians and intervals are rough (use --runs {} or more)",
                record.config.runs, MIN_TRUSTWORTHY_RUNS * 3
            ),
        });
    }
    warnings.extend(noisy_host(&record.host, "between trials", "benchmark"));
    record.warnings = warnings;
}

/// The noisy-host warning, when other tasks took more than half the cores on average
/// (`OtherWork`, sampled `when`) while the `what` ran.
pub fn noisy_host(host: &HostFingerprint, when: &str, what: &str) -> Option<Warning> {
    let other = host.other_runnable_mean?;
    (other > f64::from(host.cores) * 0.5).then(|| Warning {
        code: WarningCode::NoisyHost,
        isolator: None,
        message: format!(
            "{other:.2} tasks besides isobench were runnable on average {when}, on {} cores: other work competed with the {what}",
            host.cores
        ),
    })
}

/// Why the isolator's numbers may not mean what they say: an emulated VM is `emulated` (its
/// instructions never reach KVM, software or not); a KVM VM on a software-KVM host is
/// `software-kvm`; then noise and missing trials.
fn flags(isolator: &IsolatorRecord, software_kvm: bool, runs: u32) -> Vec<Flag> {
    let mut flags = Vec::new();
    if isolator.status.is_available() {
        if isolator.emulated {
            flags.push(Flag::Emulated);
        } else if isolator.kind == Kind::Microvm && software_kvm {
            flags.push(Flag::SoftwareKvm);
        }
    }
    if let Some(summary) = &isolator.summary {
        if summary.startup_ns.coefficient_of_variation > NOISY_CV {
            flags.push(Flag::Noisy);
        }
        if summary.startup_ns.n < runs.min(MIN_TRUSTWORTHY_RUNS) {
            flags.push(Flag::FewSamples);
        }
    }
    if isolator
        .host_cost
        .as_ref()
        .is_some_and(crate::host_cost::is_noisy)
    {
        flags.push(Flag::HostCostNoisy);
    }
    flags
}

fn warning_for(isolator: &str, flag: Flag) -> Warning {
    let message = match flag {
        Flag::SoftwareKvm => format!("{isolator}: /dev/kvm is software (kvm_pvm) here; VM timings do not reflect hardware virtualization"),
        Flag::Emulated => format!("{isolator}: no hardware virtualization: every guest instruction is emulated by QEMU's TCG; timings are not a KVM VM's"),
        Flag::Noisy => format!("{isolator}: startup varies by more than {:.0}% (σ/mean); treat its mean with care", NOISY_CV * 100.0),
        Flag::FewSamples => format!("{isolator}: fewer successful trials than asked; see its failures"),
        Flag::HostCostNoisy => format!("{isolator}: its host-cost batches disagree by more than {:.0}% or were disturbed by other work on the host; treat the system-wide memory figure with care", crate::host_cost::NOISY_SPREAD * 100.0),
    };
    Warning {
        code: flag.into(),
        isolator: Some(isolator.to_string()),
        message,
    }
}

#[cfg(test)]
mod tests {
    use reports::{GuestKind, KernelKind};

    use super::*;

    fn vm(name: &str, emulated: bool) -> IsolatorRecord {
        IsolatorRecord {
            name: name.into(),
            kind: Kind::Microvm,
            kernel: KernelKind::Own,
            guest: Some(GuestKind::Linux),
            emulated,
            warm_start: false,
            boundary: String::new(),
            version: String::new(),
            notes: Vec::new(),
            status: Status::Available,
            disk: None,
            samples: Vec::new(),
            failures: Vec::new(),
            summary: None,
            flags: Vec::new(),
            host_cost: None,
        }
    }

    #[test]
    fn failed_trials_are_counted_per_isolator_with_the_first_error() {
        let failure = |message: &str| reports::Failure {
            trial: 0,
            sequence: 0,
            message: message.into(),
        };
        let mut record = new_run(
            RunConfig {
                runs: 2,
                warmup: 0,
                workload: reports::Workload::noop(),
                timeout_ms: 1,
                order: reports::Order::Interleaved,
                isolators: Vec::new(),
                user_workload: None,
            },
            HostFingerprint::default(),
        );
        let mut docker = vm("docker", false);
        docker.samples.push(Sample::default());
        docker.failures = vec![failure("daemon gone"), failure("again")];
        let mut microvm = vm("microvm", false);
        microvm.failures = vec![failure("--mem-mib too large")];
        let mut unavailable = vm("lxc", false);
        unavailable.status = Status::Unavailable {
            reason: "not installed".into(),
        };
        record.isolators = vec![vm("process", false), docker, microvm, unavailable];
        record.isolators[0].samples.push(Sample::default());
        let found = trial_failures(&record);
        assert_eq!(
            found.lines,
            [
                "docker: 1 samples, 2 failed: daemon gone",
                "microvm: 0 samples, 1 failed: --mem-mib too large"
            ]
        );
        assert_eq!(found.without_samples, ["microvm"]);
    }

    #[test]
    fn the_noisy_host_warning_follows_other_work_not_the_load_average() {
        let host = |other: Option<f64>| HostFingerprint {
            cores: 2,
            // The run's own host-cost batches: a high 1-minute load at the end is not noise.
            loadavg_start: 1.9,
            loadavg_end: 3.4,
            other_runnable_mean: other,
            ..HostFingerprint::default()
        };
        assert_eq!(noisy_host(&host(None), "between trials", "benchmark"), None);
        assert_eq!(
            noisy_host(&host(Some(0.4)), "between trials", "benchmark"),
            None
        );
        let warning = noisy_host(&host(Some(1.25)), "between trials", "benchmark").unwrap();
        assert_eq!(warning.code, WarningCode::NoisyHost);
        assert_eq!(
            warning.message,
            "1.25 tasks besides isobench were runnable on average between trials, on 2 cores: other work competed with the benchmark"
        );
    }

    #[test]
    fn an_emulated_vm_is_flagged_emulated_not_software_kvm() {
        assert_eq!(flags(&vm("qemu-tcg", true), true, 10), [Flag::Emulated]);
        assert_eq!(flags(&vm("qemu-tcg", true), false, 10), [Flag::Emulated]);
        assert_eq!(
            flags(&vm("qemu-microvm-linux", false), true, 10),
            [Flag::SoftwareKvm]
        );
        assert!(flags(&vm("qemu-microvm-linux", false), false, 10).is_empty());
        let warning = warning_for("qemu-tcg", Flag::Emulated);
        assert_eq!(warning.code, WarningCode::Emulated);
        assert!(
            warning
                .message
                .contains("every guest instruction is emulated by QEMU's TCG"),
            "{}",
            warning.message
        );
    }
}
