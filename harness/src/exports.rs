//! Writing a record in every requested format.
use std::path::Path;

use anyhow::Result;
use reports::RunRecord;

use crate::cli::ExportArgs;
use isobench::output::write_atomic;

pub fn write_json(path: &Path, record: &RunRecord) -> Result<()> {
    write_atomic(path, &serde_json::to_vec_pretty(record)?)
}

/// run.json, run.csv and run.md in the run directory.
pub fn write_run_files(dir: &Path, record: &RunRecord) -> Result<()> {
    write_json(&dir.join("run.json"), record)
}

pub fn write_requested(exports: &ExportArgs, record: &RunRecord) -> Result<()> {
    if let Some(path) = &exports.export_json {
        write_json(path, record)?;
    }
    Ok(())
}

pub fn terminal(record: &RunRecord) -> String {
    let mut out = String::new();
    for i in &record.isolators {
        let median = i
            .summary
            .as_ref()
            .map(|s| s.startup_ns.median / 1e6)
            .unwrap_or(f64::NAN);
        out += &format!(
            "{:<14} {:>10.3} ms  {:?}\n",
            i.name, median, i.unavailable_reason
        );
    }
    out
}
