//! `reports`: the versioned result schema (serde) and pure renderers from records to bytes.
//!
//! Nothing here touches the host: `isobench report run.json` re-renders any saved run.
pub mod schema;

pub use schema::*;
