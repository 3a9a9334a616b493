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
