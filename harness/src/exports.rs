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

/// run.json, run.csv, run.md and the HTML report (index.html + PNG charts) in the run directory.
pub fn write_run_files(dir: &Path, record: &RunRecord) -> Result<()> {
    write_json(&dir.join("run.json"), record)?;
    write_csv(&dir.join("run.csv"), record)?;
    write_markdown(&dir.join("run.md"), record)?;
    reports::html::write(
        record,
        dir,
        &[
            ("JSON", "run.json"),
            ("CSV", "run.csv"),
            ("Markdown", "run.md"),
        ],
    )
    .with_context(|| format!("cannot write the HTML report into {}", dir.display()))
}

/// A self-contained HTML report in `dir`: the page, its charts, and the raw data it links to.
fn write_html(dir: &Path, record: &RunRecord) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("--html {}: cannot create the directory", dir.display()))?;
    write_json(&dir.join("run.json"), record)?;
    write_csv(&dir.join("run.csv"), record)?;
    reports::html::write(record, dir, &[("JSON", "run.json"), ("CSV", "run.csv")])
        .with_context(|| format!("--html {}", dir.display()))
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
    if let Some(dir) = &exports.html {
        write_html(dir, record)?;
    }
    Ok(())
}

pub fn terminal(record: &RunRecord) -> String {
    reports::terminal::render(record)
}
