//! A whole record serialized with each isolator's samples taken from a [`SampleSource`] as they
//! are written, so that a long run's run.json never holds every sample in memory. The bytes are
//! those of serializing [`RunRecord`] itself (a test holds the two together, field for field).
use std::io;

use serde::ser::{Error as _, SerializeSeq, SerializeStruct};
use serde::{Serialize, Serializer};

use super::{IsolatorRecord, RunRecord};
use crate::samples::SampleSource;

/// `record` with the samples of `source` in place of its own.
pub struct Streamed<'a> {
    pub record: &'a RunRecord,
    pub source: &'a dyn SampleSource,
}

impl Serialize for Streamed<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let r = self.record;
        let mut out = serializer.serialize_struct("RunRecord", 14)?;
        out.serialize_field("schema_version", &r.schema_version)?;
        out.serialize_field("isobench_version", &r.isobench_version)?;
        out.serialize_field("git_revision", &r.git_revision)?;
        out.serialize_field("started_at", &r.started_at)?;
        out.serialize_field("updated_at", &r.updated_at)?;
        out.serialize_field("complete", &r.complete)?;
        out.serialize_field("config", &r.config)?;
        out.serialize_field("host", &r.host)?;
        out.serialize_field("isolators", &Isolators(self))?;
        out.serialize_field("warnings", &r.warnings)?;
        out.serialize_field("density", &r.density)?;
        match &r.samples_file {
            Some(name) => out.serialize_field("samples_file", name)?,
            None => out.skip_field("samples_file")?,
        }
        match r.burst.is_empty() {
            true => out.skip_field("burst")?,
            false => out.serialize_field("burst", &r.burst)?,
        }
        out.end()
    }
}

struct Isolators<'a>(&'a Streamed<'a>);

impl Serialize for Isolators<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let isolators = &self.0.record.isolators;
        let mut seq = serializer.serialize_seq(Some(isolators.len()))?;
        for index in 0..isolators.len() {
            seq.serialize_element(&Isolator {
                streamed: self.0,
                index,
            })?;
        }
        seq.end()
    }
}

struct Isolator<'a> {
    streamed: &'a Streamed<'a>,
    index: usize,
}

impl Serialize for Isolator<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let i: &IsolatorRecord = &self.streamed.record.isolators[self.index];
        let mut out = serializer.serialize_struct("IsolatorRecord", 16)?;
        out.serialize_field("name", &i.name)?;
        out.serialize_field("kind", &i.kind)?;
        out.serialize_field("kernel", &i.kernel)?;
        match &i.guest {
            Some(guest) => out.serialize_field("guest", guest)?,
            None => out.skip_field("guest")?,
        }
        match i.emulated {
            true => out.serialize_field("emulated", &true)?,
            false => out.skip_field("emulated")?,
        }
        match i.warm_start {
            true => out.serialize_field("warm_start", &true)?,
            false => out.skip_field("warm_start")?,
        }
        out.serialize_field("boundary", &i.boundary)?;
        out.serialize_field("version", &i.version)?;
        out.serialize_field("notes", &i.notes)?;
        out.serialize_field("unavailable_reason", &i.status.reason())?;
        out.serialize_field("disk", &i.disk)?;
        out.serialize_field("samples", &Samples(self))?;
        out.serialize_field("failures", &i.failures)?;
        out.serialize_field("summary", &i.summary)?;
        out.serialize_field("flags", &i.flags)?;
        match &i.host_cost {
            Some(cost) => out.serialize_field("host_cost", cost)?,
            None => out.skip_field("host_cost")?,
        }
        out.end()
    }
}

struct Samples<'a>(&'a Isolator<'a>);

impl Serialize for Samples<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Isolator { streamed, index } = self.0;
        let mut seq = serializer.serialize_seq(None)?;
        let mut failed = None;
        let read = streamed
            .source
            .for_each(streamed.record, *index, &mut |sample| {
                seq.serialize_element(sample).map_err(|e| {
                    failed = Some(e);
                    io::Error::other("cannot write a sample")
                })
            });
        if let Some(error) = failed {
            return Err(error);
        }
        read.map_err(S::Error::custom)?;
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples::Inline;
    use crate::schema::{BurstLoad, BurstPoint, BurstSample, HostCost, Phase, Sample, Status};

    /// Every field, set and unset, in the order and shape `RunRecord`'s own derive writes.
    #[test]
    fn streams_the_bytes_the_record_itself_serializes_to() {
        let text = include_str!("../../tests/fixtures/old-run.json");
        let mut record: RunRecord = serde_json::from_str(text).unwrap();
        let first = &mut record.isolators[0];
        first.emulated = true;
        first.warm_start = true;
        first.guest = None;
        first.host_cost = Some(HostCost::default());
        first.samples.push(Sample {
            phases: vec![Phase {
                name: "exec".into(),
                at_ns: 5,
            }],
            cpu_ns: Some(7),
            ..Default::default()
        });
        record.isolators[1].status = Status::Unavailable {
            reason: "not installed".into(),
        };
        record.isolators[1].samples.clear();
        record.samples_file = Some("samples.jsonl".into());
        let mut with_burst = record.clone();
        with_burst.burst.push(BurstPoint {
            isolator: "process".into(),
            load: BurstLoad::Closed { concurrency: 2 },
            launches_requested: 1,
            samples: vec![BurstSample::default()],
            failures: 0,
            first_error: None,
            latency: None,
            achieved_per_second: 1.0,
            duration_ns: 1,
            fell_behind: false,
            settle: None,
            stopped_because: None,
            leftovers: Vec::new(),
        });
        for record in [record.clone(), with_burst, {
            record.samples_file = None;
            record
        }] {
            let derived = serde_json::to_string_pretty(&record).unwrap();
            let streamed = serde_json::to_string_pretty(&Streamed {
                record: &record,
                source: &Inline,
            })
            .unwrap();
            assert_eq!(streamed, derived);
        }
    }
}
