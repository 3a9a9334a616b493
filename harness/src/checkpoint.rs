//! Checkpoints of a run in progress, at a cost that does not grow with the run: each raw sample
//! and failure is appended to `samples.jsonl` as it is measured (written through every round,
//! fsynced at most every [`SYNC_INTERVAL`]), and `run.json` is rewritten atomically with the
//! summary only, naming that file, at most every [`SUMMARY_INTERVAL`]. The complete,
//! self-contained `run.json` is written once, at the end ([`write_final`]), its samples streamed
//! from the log ([`RunFiles::samples_log`]): the run itself keeps none in memory.
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use reports::samples::{Log, SampleSource};
use reports::{Failure, LogLine, RunRecord, Sample};

use crate::output::write_atomic;
use crate::run_dir::SAMPLES_FILE;

/// The summary run.json is rewritten at most this often (and at the end of each phase).
pub const SUMMARY_INTERVAL: Duration = Duration::from_secs(5);
/// The samples log is fsynced at most this often: every line reaches the kernel at the end of
/// its round (so a killed isobench loses nothing), the disk at least once a second (so a
/// crash of the host loses at most that). An fsync per round cost ~1 ms a trial here.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// Where a run's checkpoints go.
pub trait Checkpoint {
    /// A sample or failure of `isolator`, as soon as it is measured.
    fn append(
        &mut self,
        isolator: &str,
        sample: Option<&Sample>,
        failure: Option<&Failure>,
    ) -> Result<()>;
    /// A round of trials ended: what was appended goes to the kernel (and now and then to disk).
    fn round_done(&mut self) -> Result<()>;
    /// Whether a summary is due: after the first round, then [`SUMMARY_INTERVAL`] after the last.
    fn summary_due(&self) -> bool;
    /// The record's summary as it stands (samples and failures left out: they are in the log).
    fn summary(&mut self, record: &mut RunRecord) -> Result<()>;
}

/// `run.json` and `samples.jsonl` in a run directory.
pub struct RunFiles {
    json_path: PathBuf,
    log_path: PathBuf,
    log: BufWriter<File>,
    last_sync: Instant,
    /// None until the first summary, which is due after the first round.
    last_summary: Option<Instant>,
}

impl RunFiles {
    /// Creates the (empty) samples log in `dir`, which must hold no earlier one.
    pub fn create(dir: &Path) -> Result<RunFiles> {
        let log_path = dir.join(SAMPLES_FILE);
        let log = File::options()
            .append(true)
            .create_new(true)
            .open(&log_path)
            .with_context(|| format!("cannot create {}", log_path.display()))?;
        Ok(RunFiles {
            json_path: dir.join("run.json"),
            log_path,
            log: BufWriter::new(log),
            last_sync: Instant::now(),
            last_summary: None,
        })
    }

    /// The log as a source of every sample, once it is synced ([`RunFiles::sync`]).
    pub fn samples_log(&self) -> Log {
        Log::new(&self.log_path)
    }

    /// Flushes and fsyncs the log: every sample is on disk.
    pub fn sync(&mut self) -> Result<()> {
        self.log.flush().context("cannot write the samples log")?;
        self.log
            .get_ref()
            .sync_data()
            .context("cannot fsync the samples log")?;
        self.last_sync = Instant::now();
        Ok(())
    }
}

impl Checkpoint for RunFiles {
    fn append(
        &mut self,
        isolator: &str,
        sample: Option<&Sample>,
        failure: Option<&Failure>,
    ) -> Result<()> {
        let line = LogLine {
            isolator: isolator.into(),
            sample: sample.map(std::borrow::Cow::Borrowed),
            failure: failure.map(std::borrow::Cow::Borrowed),
        };
        serde_json::to_writer(&mut self.log, &line)?;
        self.log
            .write_all(b"\n")
            .context("cannot write the samples log")
    }

    fn round_done(&mut self) -> Result<()> {
        if self.last_sync.elapsed() >= SYNC_INTERVAL {
            return self.sync();
        }
        self.log.flush().context("cannot write the samples log")
    }

    fn summary_due(&self) -> bool {
        self.last_summary
            .is_none_or(|last| last.elapsed() >= SUMMARY_INTERVAL)
    }

    fn summary(&mut self, record: &mut RunRecord) -> Result<()> {
        // The log is at least as far along as the summary that names it.
        self.sync()?;
        write_summary(&self.json_path, record)?;
        self.last_summary = Some(Instant::now());
        Ok(())
    }
}

/// Writes `record` to `path` without its samples and failures, naming the log that holds them.
fn write_summary(path: &Path, record: &mut RunRecord) -> Result<()> {
    let taken: Vec<_> = record
        .isolators
        .iter_mut()
        .map(|i| {
            (
                std::mem::take(&mut i.samples),
                std::mem::take(&mut i.failures),
            )
        })
        .collect();
    record.samples_file = Some(SAMPLES_FILE.to_string());
    let written = write_atomic(path, &reports::json(record));
    record.samples_file = None;
    for (isolator, (samples, failures)) in record.isolators.iter_mut().zip(taken) {
        isolator.samples = samples;
        isolator.failures = failures;
    }
    written
}

/// The complete run.json, the samples of `source` inline, streamed into place atomically.
pub fn write_final(path: &Path, record: &RunRecord, source: &dyn SampleSource) -> Result<()> {
    reports::atomic::write_with(path, |out| reports::json::write_from(out, record, source))
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(trial: u32) -> Sample {
        Sample {
            trial,
            startup_ns: 1000 + u64::from(trial),
            ..Default::default()
        }
    }

    fn record_with(names: &[&str]) -> RunRecord {
        let mut record = crate::record::new_run(
            reports::RunConfig {
                runs: 1,
                warmup: 0,
                workload: reports::Workload::noop(),
                timeout_ms: 1,
                order: reports::Order::Interleaved,
                isolators: names.iter().map(|n| n.to_string()).collect(),
                user_workload: None,
            },
            reports::HostFingerprint::default(),
        );
        for name in names {
            record.isolators.push(
                serde_json::from_str(&format!(
                    r#"{{"name":"{name}","kind":"process","kernel":"shared","boundary":"","version":"","samples":[],"failures":[]}}"#
                ))
                .unwrap(),
            );
        }
        record
    }

    /// A killed run: the summary run.json (written before the last samples) and the log,
    /// cut in the middle of a line, load back as every sample that finished.
    #[test]
    fn a_summary_and_a_torn_log_load_as_every_finished_sample() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = RunFiles::create(dir.path()).unwrap();
        let mut record = record_with(&["process", "container"]);
        record.isolators[0].samples.push(sample(0));
        files.append("process", Some(&sample(0)), None).unwrap();
        files.summary(&mut record).unwrap();
        assert_eq!(record.isolators[0].samples.len(), 1, "put back after");
        let failure = Failure {
            trial: 0,
            sequence: 1,
            message: "timed out".into(),
        };
        files.append("container", None, Some(&failure)).unwrap();
        files.append("process", Some(&sample(1)), None).unwrap();
        files.round_done().unwrap();
        let mut log = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join(SAMPLES_FILE))
            .unwrap();
        log.write_all(br#"{"isolator":"process","sam"#).unwrap();

        let summary = std::fs::read_to_string(dir.path().join("run.json")).unwrap();
        assert!(
            !summary.contains("\"startup_ns\": 1000"),
            "no sample inline"
        );
        let loaded = RunRecord::load(&dir.path().join("run.json")).unwrap();
        assert_eq!(loaded.samples_file, None);
        let trials: Vec<u32> = loaded.isolators[0]
            .samples
            .iter()
            .map(|s| s.trial)
            .collect();
        assert_eq!(trials, [0, 1]);
        assert_eq!(loaded.isolators[1].failures, [failure]);
    }

    /// The final run.json streamed from the log is the record with every sample inline, each
    /// with its overhead against the process baseline's median footprint; the renderers get an
    /// evenly spread subset.
    #[test]
    fn the_final_run_json_streams_every_logged_sample_with_its_overhead() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = RunFiles::create(dir.path()).unwrap();
        let mut record = record_with(&["process", "container"]);
        let mut columns = vec![crate::columns::Columns::default(); 2];
        let mut inline = record.clone();
        for trial in 0..5 {
            for (index, name) in ["process", "container"].into_iter().enumerate() {
                let mut logged = sample(trial);
                logged.memory.footprint_bytes = 100 * u64::from(trial + 1) + index as u64;
                files.append(name, Some(&logged), None).unwrap();
                columns[index].push(&logged);
                // Process footprints 100..=500: the baseline is 300.
                logged.memory_overhead_bytes = Some(logged.memory.footprint_bytes as i64 - 300);
                inline.isolators[index].samples.push(logged);
            }
        }
        files.round_done().unwrap();
        crate::record::finish(&mut record, &columns, false);
        files.summary(&mut record).unwrap();
        for (whole, summarized) in inline.isolators.iter_mut().zip(&record.isolators) {
            whole.summary = summarized.summary.clone();
            whole.flags = summarized.flags.clone();
        }
        inline.warnings = record.warnings.clone();
        let path = dir.path().join("run.json");
        write_final(&path, &record, &files.samples_log()).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), reports::json(&inline));

        files.samples_log().load_spread(&mut record, 2).unwrap();
        let kept: Vec<(u32, Option<i64>)> = record.isolators[1]
            .samples
            .iter()
            .map(|s| (s.trial, s.memory_overhead_bytes))
            .collect();
        assert_eq!(kept, [(0, Some(-199)), (3, Some(101))]);
    }
}
