//! Where a record's raw samples come from, and how many a renderer gets. A long run keeps its
//! samples on disk only (`samples.jsonl`): its run.json and run.csv stream them from there
//! ([`Log`]), and its charts draw at most [`CHART_SAMPLES`] per isolator, evenly spread over
//! the run ([`spread`]), each saying so ("10,000 of 100,000"). The summaries, computed from
//! every sample, stay exact. A record read whole (`isobench report`) goes the same way through
//! [`Kept`].
use std::io::{self, BufRead};
use std::path::{Path, PathBuf};

use crate::schema::{LogLine, RunRecord, Sample};

/// The most raw samples per isolator a renderer gets (charts draw them).
pub const CHART_SAMPLES: usize = 10_000;

/// Every sample of one isolator of a record, in run order.
pub trait SampleSource {
    /// Calls `each` with every sample of `record.isolators[isolator]`, in run order.
    fn for_each(
        &self,
        record: &RunRecord,
        isolator: usize,
        each: &mut dyn FnMut(&Sample) -> io::Result<()>,
    ) -> io::Result<()>;
}

/// The record's own samples.
pub struct Inline;

impl SampleSource for Inline {
    fn for_each(
        &self,
        record: &RunRecord,
        isolator: usize,
        each: &mut dyn FnMut(&Sample) -> io::Result<()>,
    ) -> io::Result<()> {
        record.isolators[isolator].samples.iter().try_for_each(each)
    }
}

/// Whether sample `index` of `total` is among the `bound` kept, evenly spread: all of them
/// when `total <= bound`, else exactly `bound`, the first included, one every `total / bound`.
pub fn spread(index: usize, total: usize, bound: usize) -> bool {
    if total <= bound || index == 0 {
        return index < total;
    }
    let step = |i: usize| (i as u128 * bound as u128) / total as u128;
    index < total && step(index) > step(index - 1)
}

/// Every sample of a record read whole, moved out of it; the record keeps a spread subset.
pub struct Kept(Vec<Vec<Sample>>);

impl Kept {
    /// Moves every isolator's samples out of `record`, leaving at most `bound` of them.
    pub fn take_from(record: &mut RunRecord, bound: usize) -> Kept {
        Kept(
            record
                .isolators
                .iter_mut()
                .map(|isolator| {
                    let all = std::mem::take(&mut isolator.samples);
                    isolator.samples = (all.iter().enumerate())
                        .filter(|(index, _)| spread(*index, all.len(), bound))
                        .map(|(_, sample)| sample.clone())
                        .collect();
                    all
                })
                .collect(),
        )
    }
}

impl SampleSource for Kept {
    fn for_each(
        &self,
        _: &RunRecord,
        isolator: usize,
        each: &mut dyn FnMut(&Sample) -> io::Result<()>,
    ) -> io::Result<()> {
        self.0[isolator].iter().try_for_each(each)
    }
}

/// The samples log of a finished run (`samples.jsonl`), read again for each isolator; each
/// sample gets its `memory_overhead_bytes`, against the median footprint of the process
/// baseline in the record's (final) summary, as the run's summaries computed it.
pub struct Log {
    path: PathBuf,
}

impl Log {
    pub fn new(path: &Path) -> Log {
        Log {
            path: path.to_path_buf(),
        }
    }

    /// Fills each isolator's `samples` with at most `bound` of its samples in the log, evenly
    /// spread; how many it has is its summary's `n` (none without a summary).
    pub fn load_spread(&self, record: &mut RunRecord, bound: usize) -> io::Result<()> {
        for index in 0..record.isolators.len() {
            let total = record.isolators[index]
                .summary
                .as_ref()
                .map_or(0, |s| s.startup_ns.n as usize);
            let mut kept = Vec::new();
            let mut seen = 0;
            self.for_each(record, index, &mut |sample| {
                if spread(seen, total, bound) {
                    kept.push(sample.clone());
                }
                seen += 1;
                Ok(())
            })?;
            record.isolators[index].samples = kept;
        }
        Ok(())
    }
}

impl SampleSource for Log {
    fn for_each(
        &self,
        record: &RunRecord,
        isolator: usize,
        each: &mut dyn FnMut(&Sample) -> io::Result<()>,
    ) -> io::Result<()> {
        let name = &record.isolators[isolator].name;
        let baseline = record
            .isolator("process")
            .and_then(|p| Some(p.summary.as_ref()?.footprint_bytes.median));
        // Lines are written as `{"isolator":"<name>",…}`: another isolator's are skipped
        // without parsing them (the log is read once per isolator).
        let ours = format!("{{\"isolator\":{},", serde_json::Value::from(name.as_str()));
        let shown = self.path.display();
        let file = std::fs::File::open(&self.path)
            .map_err(|e| io::Error::new(e.kind(), format!("{shown}: {e}")))?;
        let mut lines = io::BufReader::new(file).split(b'\n').enumerate().peekable();
        while let Some((number, line)) = lines.next() {
            let line = line?;
            if line.starts_with(b"{\"isolator\":") && !line.starts_with(ours.as_bytes()) {
                continue;
            }
            let parsed = match serde_json::from_slice::<LogLine>(&line) {
                Ok(parsed) => parsed,
                // A last line cut short by a crash of the writer.
                Err(_) if lines.peek().is_none() => break,
                Err(e) => {
                    return Err(io::Error::other(format!(
                        "{shown}: line {}: {e}",
                        number + 1
                    )))
                }
            };
            let Some(sample) = parsed.sample.filter(|_| parsed.isolator == *name) else {
                continue;
            };
            let mut sample = sample.into_owned();
            sample.memory_overhead_bytes =
                baseline.map(|b| sample.memory.footprint_bytes as i64 - b.round() as i64);
            each(&sample)?;
        }
        Ok(())
    }
}

/// "10,000 of 100,000" when a renderer has fewer of the isolator's samples than it measured.
pub fn subset_note(isolator: &crate::schema::IsolatorRecord) -> Option<String> {
    let measured = isolator.sample_count();
    (isolator.samples.len() < measured).then(|| {
        format!(
            "{} of {}",
            thousands(isolator.samples.len()),
            thousands(measured)
        )
    })
}

/// 100000 as "100,000".
fn thousands(value: usize) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_exactly_the_bound_evenly_from_the_first() {
        let kept: Vec<usize> = (0..10).filter(|&i| spread(i, 10, 4)).collect();
        assert_eq!(kept, [0, 3, 5, 8]);
        assert_eq!((0..5).filter(|&i| spread(i, 5, 10)).count(), 5);
        for (total, bound) in [(100_000, 10_000), (10_001, 10_000), (12_345, 977)] {
            let kept: Vec<usize> = (0..total).filter(|&i| spread(i, total, bound)).collect();
            assert_eq!(kept.len(), bound, "{total} of {bound}");
            let widest = kept.windows(2).map(|w| w[1] - w[0]).max().unwrap();
            assert!(widest <= total.div_ceil(bound), "gap {widest}");
        }
        assert!(!spread(10, 10, 4));
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(10_000), "10,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
