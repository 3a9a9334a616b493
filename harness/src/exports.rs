//! Writing a record in every requested format; every file is written atomically.
use std::path::Path;

use anyhow::{Context, Result};
use reports::RunRecord;

use crate::cli::ExportArgs;
use isobench::output::write_atomic;

pub fn write_json(path: &Path, record: &RunRecord) -> Result<()> {
    write_atomic(path, &reports::json(record))
}

fn write_csv(path: &Path, record: &RunRecord) -> Result<()> {
    let bytes = reports::csv::render(record).context("cannot render CSV")?;
    write_atomic(path, &bytes)
}

fn write_markdown(path: &Path, record: &RunRecord) -> Result<()> {
    write_atomic(path, reports::markdown::render(record).as_bytes())
}

/// run.json, run.csv and run.md in the run directory.
pub fn write_run_files(dir: &Path, record: &RunRecord) -> Result<()> {
    write_json(&dir.join("run.json"), record)?;
    write_csv(&dir.join("run.csv"), record)?;
    write_markdown(&dir.join("run.md"), record)
}

/// The files asked for with --export-json/--export-csv/--export-markdown.
pub fn write_requested(exports: &ExportArgs, record: &RunRecord) -> Result<()> {
    if let Some(path) = &exports.export_json {
        write_json(path, record)?;
    }
    if let Some(path) = &exports.export_csv {
        write_csv(path, record)?;
    }
    if let Some(path) = &exports.export_markdown {
        write_markdown(path, record)?;
    }
    Ok(())
}

pub fn terminal(record: &RunRecord) -> String {
    reports::terminal::render(record)
}
