//! The JSON rendering: the record itself, pretty-printed (what `RunRecord::load` reads back).
//! The comparison derived from it is [`crate::comparison::json`] (`comparison.json`).
use crate::schema::RunRecord;

/// The record as pretty-printed JSON bytes, ending in a newline.
pub fn render(record: &RunRecord) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(record).expect("a RunRecord always serializes");
    bytes.push(b'\n');
    bytes
}

/// The same bytes as [`render`], streamed to `out` (a long run's record need not be built in
/// memory a second time).
pub fn write(out: &mut dyn std::io::Write, record: &RunRecord) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, record)?;
    out.write_all(b"\n")
}

/// The same bytes as [`render`] of `record` with the samples of `source` in place of its own,
/// streamed: a long run's run.json, its samples read from the samples log as they are written.
pub fn write_from(
    out: &mut dyn std::io::Write,
    record: &RunRecord,
    source: &dyn crate::samples::SampleSource,
) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &crate::schema::Streamed { record, source })?;
    out.write_all(b"\n")
}
