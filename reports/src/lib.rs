//! `reports`: the versioned result schema (serde) and every renderer, pure functions from
//! records to bytes: run reports (terminal, CSV, JSON, Markdown, HTML), the "VMs vs
//! containers" comparison in its two tiers (in each of those, and as `comparison.json`), the
//! density table, the host cost (what the whole host paid per instance), `isobench compare` and
//! `isobench list`.
//!
//! Nothing here touches the host: `isobench report run.json` re-renders any saved run.
pub mod atomic;
pub mod burst;
pub mod charts;
pub mod compare;
pub mod comparison;
pub mod csv;
pub mod density;
pub mod detail;
pub mod fonts;
mod grid;
pub mod host_cost;
pub mod html;
pub mod json;
pub mod list;
pub mod markdown;
pub mod phases;
pub mod samples;
pub mod schema;
pub mod table;
pub mod terminal;
pub mod units;
pub mod warm_start;

pub use schema::*;

/// The JSON rendering; the same as [`json::render`].
pub fn json(record: &RunRecord) -> Vec<u8> {
    json::render(record)
}
