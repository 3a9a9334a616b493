//! The JSON rendering: the record itself, pretty-printed (what `RunRecord::load` reads back).
//! The comparison derived from it is [`crate::comparison::json`] (`comparison.json`).
use crate::schema::RunRecord;

/// The record as pretty-printed JSON bytes, ending in a newline.
pub fn render(record: &RunRecord) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(record).expect("a RunRecord always serializes");
    bytes.push(b'\n');
    bytes
}
