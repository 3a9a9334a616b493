//! `reports`: the versioned result schema (serde) and pure renderers from records to bytes.
//!
//! Nothing here touches the host: `isobench report run.json` re-renders any saved run.
pub mod charts;
pub mod comparison;
pub mod csv;
pub mod fonts;
pub mod html;
pub mod markdown;
pub mod schema;
pub mod table;
pub mod terminal;
pub mod units;

pub use schema::*;

/// The JSON rendering: the record itself, pretty-printed.
pub fn json(record: &RunRecord) -> Vec<u8> {
    serde_json::to_vec_pretty(record).expect("a RunRecord always serializes")
}
