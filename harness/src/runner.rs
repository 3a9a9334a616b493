//! The run: prepare every isolator, warm up, then interleave trials (A B C A B C …), handing
//! each sample and failure to a [`Checkpoint`] as it is measured, so that an interrupted run
//! loses nothing it measured.
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use isolators::{Host, Isolator, Prepared, Workload};
use reports::{Failure, HostFingerprint, Order, RunConfig, RunRecord, Status};

use crate::checkpoint::Checkpoint;
use crate::columns::Columns;
use crate::density;
use crate::host_cost::{self, HostCostPlan};
use crate::output::utc_timestamp;
use crate::record;
use crate::trial::run_trial;

/// An isolator that fails this many trials in a row without ever succeeding is dropped.
const GIVE_UP_AFTER_FAILURES: u32 = 3;

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub runs: u32,
    pub warmup: u32,
    pub workload: Workload,
    pub timeout: Duration,
    /// Each isolator's time budget: once its trials took this long and it has
    /// [`MIN_RUNS_UNDER_BUDGET`] measured runs, it gets no more (hyperfine's idea, per
    /// isolator). `None`: every isolator gets every run.
    pub budget: Option<Duration>,
    /// Host cost: batches held at once after the trials; None to skip.
    pub host_cost: Option<HostCostPlan>,
    /// The user's workload, for the record (the isolators get it through their options).
    pub user_workload: Option<reports::UserWorkloadRecord>,
}

/// Measured runs an isolator gets even when that takes longer than its budget.
pub const MIN_RUNS_UNDER_BUDGET: u32 = 10;

/// What the runner reports as it goes (a progress bar in the CLI).
pub trait Progress {
    fn start(&self, total_trials: u64);
    fn trial(&self, isolator: &str, outcome: Result<u64, &str>);
    fn note(&self, message: &str);
    /// `trials` planned trials will not run (an isolator stopped at its budget).
    fn skip(&self, trials: u64);
    /// A line the probe of `isolator` wrote on stderr: shown labelled, also where notes are not.
    fn probe_stderr(&self, isolator: &str, line: &str) {
        self.note(&format!("probe ({isolator}): {line}"));
    }
    /// The host-cost phase begins: `batches` batches are planned over all isolators.
    fn host_cost_start(&self, _batches: u64) {}
    /// `isolator` starts holding a batch of `instances`.
    fn host_cost_batch(&self, _isolator: &str, _instances: u32) {}
}

/// A prepared isolator in the run, and where its results go.
struct Active {
    prepared: Prepared,
    record_index: usize,
    consecutive_failures: u32,
    successes: u32,
    /// Wall time of its trials so far, warm-ups included.
    spent: Duration,
    /// Set when it stopped at its budget.
    out_of_budget: bool,
}

impl Active {
    /// Whether its budget (if any) says this trial should not run. A slow isolator keeps one
    /// warm-up, and stops adding measured runs once it has the minimum.
    fn over_budget(&self, budget: Option<Duration>, warmup: bool, measured: u32) -> bool {
        let Some(budget) = budget else { return false };
        match warmup {
            true => self.successes >= 1 && self.spent >= budget / 4,
            false => measured >= MIN_RUNS_UNDER_BUDGET && self.spent >= budget,
        }
    }
}

/// Runs the whole comparison. `checkpoint` gets every sample and failure as it is measured,
/// the end of every round, and the summary now and then and at the end; `stop` ends the run
/// early (Ctrl-C) with what was measured. The record returned has summaries of every sample
/// but no sample inline (they are in the checkpoint's log; memory stays bounded, see
/// [`Columns`]).
pub fn run(
    isolators: Vec<Box<dyn Isolator>>,
    host: &Host,
    fingerprint: HostFingerprint,
    options: &RunOptions,
    stop: &AtomicBool,
    progress: &dyn Progress,
    checkpoint: &mut dyn Checkpoint,
) -> Result<RunRecord> {
    let config = RunConfig {
        runs: options.runs,
        warmup: options.warmup,
        workload: options.workload,
        timeout_ms: options.timeout.as_millis() as u64,
        order: Order::Interleaved,
        isolators: isolators.iter().map(|i| i.name().to_string()).collect(),
        user_workload: options.user_workload.clone(),
    };
    let mut record = record::new_run(config, fingerprint);
    let software_kvm = host.kvm.is_software();
    let mut active = Vec::new();
    // One per isolator of the record: what the summaries need; whole samples go to the log.
    let mut columns: Vec<Columns> = Vec::new();
    for isolator in isolators {
        let availability = isolator.availability(host);
        let index = record.isolators.len();
        let status = record::status(availability);
        record
            .isolators
            .push(record::isolator_record(isolator.as_ref(), status.clone()));
        columns.push(Columns::default());
        if let Status::Unavailable { reason } = status {
            progress.note(&format!("{}: unavailable: {reason}", isolator.name()));
            continue;
        }
        let prepared = match Prepared::new(isolator.as_ref(), &options.workload) {
            Ok(prepared) => prepared,
            Err(e) => {
                let status = Status::PrepareFailed {
                    error: e.to_string(),
                };
                let reason = status.reason().unwrap_or_default();
                progress.note(&format!("{}: {reason}", isolator.name()));
                record.isolators[index].status = status;
                continue;
            }
        };
        record.isolators[index].disk = Some(prepared.disk().clone());
        columns[index] = Columns::with_capacity(options.runs as usize);
        active.push(Active {
            prepared,
            record_index: index,
            consecutive_failures: 0,
            successes: 0,
            spent: Duration::ZERO,
            out_of_budget: false,
        });
    }
    progress.start(u64::from(options.warmup + options.runs) * active.len() as u64);
    let trials_started = Instant::now();

    let mut sequence = 0u32;
    let mut other_work = crate::fingerprint::OtherWork::default();
    'rounds: for round in 0..options.warmup + options.runs {
        let warmup = round < options.warmup;
        for slot in active.iter_mut() {
            if stop.load(Ordering::SeqCst) {
                break 'rounds;
            }
            let name = slot.prepared.name().to_string();
            if slot.successes == 0 && slot.consecutive_failures >= GIVE_UP_AFTER_FAILURES {
                progress.trial(&name, Err("skipped after repeated failures"));
                continue;
            }
            let measured = columns[slot.record_index].len() as u32;
            if slot.out_of_budget {
                continue;
            }
            if slot.over_budget(options.budget, warmup, measured) {
                let rounds_left = options.warmup + options.runs - round;
                if !warmup {
                    slot.out_of_budget = true;
                    let note = budget_note(measured, options, slot.spent);
                    progress.note(&format!("{name}: {note}"));
                    record.isolators[slot.record_index].notes.push(note);
                    progress.skip(u64::from(rounds_left));
                } else {
                    progress.skip(1);
                }
                continue;
            }
            other_work.sample();
            let started = Instant::now();
            let outcome = run_trial(&mut slot.prepared, options.timeout);
            slot.spent += started.elapsed();
            let probe_stderr = slot.prepared.probe_stderr();
            for line in &probe_stderr {
                progress.probe_stderr(&name, line);
            }
            let entry = &mut record.isolators[slot.record_index];
            let kept = &mut columns[slot.record_index];
            match outcome {
                Ok(result) => {
                    slot.consecutive_failures = 0;
                    slot.successes += 1;
                    progress.trial(&name, Ok(result.startup_ns));
                    if !warmup {
                        let sample = record::sample(kept.len() as u32, sequence, &result);
                        checkpoint.append(&entry.name, Some(&sample), None)?;
                        kept.push(&sample);
                    }
                }
                // A trial cut short by Ctrl-C is not a failure of the isolator.
                Err(_) if stop.load(Ordering::SeqCst) => break 'rounds,
                Err(error) => {
                    slot.consecutive_failures += 1;
                    // The probe's own words (a user command's exit status and last output
                    // lines) belong with the failure, as an engine's stderr does.
                    let error = match probe_stderr.is_empty() {
                        true => error.to_string(),
                        false => format!("{error}; probe stderr: {:?}", probe_stderr.join("\n")),
                    };
                    let message = if warmup {
                        format!("warm-up: {error}")
                    } else {
                        error
                    };
                    progress.trial(&name, Err(&message));
                    let trial = kept.len() as u32 + entry.failures.len() as u32;
                    entry.failures.push(Failure {
                        trial,
                        sequence,
                        message,
                    });
                    checkpoint.append(&entry.name, None, entry.failures.last())?;
                }
            }
            if !warmup {
                sequence += 1;
            }
        }
        checkpoint.round_done()?;
        record.host.other_runnable_mean = other_work.mean();
        if checkpoint.summary_due() {
            record.updated_at = utc_timestamp();
            record::finish(&mut record, &columns, software_kvm);
            checkpoint.summary(&mut record)?;
        }
    }
    if options.host_cost.is_some() {
        progress.note(&format!(
            "the trials took {}",
            reports::units::duration_words(trials_started.elapsed())
        ));
    }
    hold_batches(
        &mut active,
        &mut record,
        &columns,
        options,
        stop,
        progress,
        checkpoint,
    )?;
    drop(active);
    record.complete = !stop.load(Ordering::SeqCst);
    record.updated_at = utc_timestamp();
    record.host.loadavg_end = crate::fingerprint::loadavg();
    record::finish(&mut record, &columns, software_kvm);
    checkpoint.summary(&mut record)?;
    Ok(record)
}

/// The host-cost phase, when `options.host_cost` asks for it: every isolator that measured
/// trials holds `plan.batch` instances at once, `plan.repeats` times, the repeats interleaved
/// across isolators; each batch is written to the record (and checkpointed) as soon as it is
/// measured.
fn hold_batches(
    active: &mut [Active],
    record: &mut RunRecord,
    columns: &[Columns],
    options: &RunOptions,
    stop: &AtomicBool,
    progress: &dyn Progress,
    checkpoint: &mut dyn Checkpoint,
) -> Result<()> {
    let Some(plan) = options.host_cost else {
        return Ok(());
    };
    let software_kvm = record.host.kvm_provider == reports::KvmProvider::Software;
    record::finish(record, columns, software_kvm);
    let available = crate::host_meter::MemSnapshot::now().map_or(0, |m| m.mem_available as u64);
    let mut batches = Vec::new();
    for slot in active.iter() {
        let entry = &mut record.isolators[slot.record_index];
        // Host cost gets half an isolator's time budget, over all its repeats.
        let (batch, why) =
            host_cost::batch_for(entry, plan, options.budget.map(|b| b / 2), available);
        if columns[slot.record_index].is_empty() {
            batches.push(0);
            continue;
        }
        if let Some(why) = why {
            progress.note(&format!("{}: {why}", entry.name));
            entry.notes.push(why);
        }
        entry.host_cost = Some(reports::HostCost {
            batch,
            ..Default::default()
        });
        batches.push(batch);
    }
    progress.note(&format!(
        "host cost: holding batches of up to {} instances, {} times per isolator",
        plan.batch, plan.repeats
    ));
    let budget = options.budget.map(|b| b / 2);
    let mut spent = vec![Duration::ZERO; batches.len()];
    let mut done = vec![0u32; batches.len()];
    progress.host_cost_start(
        batches.iter().filter(|&&b| b > 0).count() as u64 * u64::from(plan.repeats),
    );
    for _ in 0..plan.repeats {
        for (index, (slot, &batch)) in active.iter_mut().zip(&batches).enumerate() {
            if stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            if batch == 0 || done[index] == u32::MAX {
                continue;
            }
            let entry = &mut record.isolators[slot.record_index];
            if let Some(why) = host_cost::out_of_time(budget, spent[index], done[index]) {
                let note = format!(
                    "host cost: {} of {} batches: {why}",
                    done[index], plan.repeats
                );
                progress.note(&format!("{}: {note}", entry.name));
                entry.notes.push(note);
                progress.skip(u64::from(plan.repeats - done[index]));
                done[index] = u32::MAX;
                continue;
            }
            progress.host_cost_batch(&entry.name, batch);
            let started = Instant::now();
            let point = density::measure(
                std::slice::from_mut(&mut slot.prepared),
                batch,
                options.timeout,
                stop,
            );
            spent[index] += started.elapsed();
            done[index] += 1;
            let entry = &mut record.isolators[slot.record_index];
            if let Some(why) = &point.stopped_because {
                let note = format!(
                    "host cost: a batch stopped at {} of {batch}: {why}",
                    point.reached
                );
                progress.note(&format!("{}: {note}", entry.name));
                entry.notes.push(note);
            }
            for left in &point.leftovers {
                progress.note(&format!("{}: host cost batch left {left}", entry.name));
            }
            if let (Some(sample), Some(cost)) = (point.host, entry.host_cost.as_mut()) {
                cost.samples.push(sample);
            }
            record::finish(record, columns, software_kvm);
            checkpoint.summary(record)?;
        }
    }
    Ok(())
}

/// Why an isolator has fewer runs than asked, for its notes and the terminal.
fn budget_note(measured: u32, options: &RunOptions, spent: Duration) -> String {
    let per_trial = spent.as_secs_f64() / f64::from(measured.max(1) + options.warmup.min(1));
    format!(
        "{measured} of {} runs: its {:.0} s time budget ran out at {per_trial:.2} s a trial (--budget 0 lifts it)",
        options.runs,
        options.budget.unwrap_or_default().as_secs_f64()
    )
}
