//! Writing a record in every requested format; every file is written atomically. run.json and
//! run.csv take every sample from a [`SampleSource`] (a long run's log); the other renderers
//! get the record, whose `samples` may be a bounded subset ([`reports::samples`]).
use std::path::Path;

use anyhow::{bail, Context, Result};
use reports::samples::SampleSource;
use reports::RunRecord;

use crate::cli::ExportArgs;
use isobench::output::write_atomic;

/// The whole record with every sample of `source`, streamed (a long run's JSON is not built in
/// memory first).
pub fn write_json(path: &Path, record: &RunRecord, source: &dyn SampleSource) -> Result<()> {
    isobench::checkpoint::write_final(path, record, source)
}

/// Proves every --export-* file and the --html directory can be written, before any trial:
/// a file's directory must exist and take a new file, and the path must not be a directory;
/// the --html directory (created at the end) or the nearest directory above it that exists
/// must take a new file. Nothing is left behind.
pub fn check_writable(exports: &ExportArgs) -> Result<()> {
    let files = [
        ("--export-json", &exports.export_json),
        ("--export-csv", &exports.export_csv),
        ("--export-markdown", &exports.export_markdown),
    ];
    for (flag, path) in files {
        let Some(path) = path else { continue };
        if path.is_dir() {
            bail!(
                "{flag} {}: is a directory; give a file path",
                path.display()
            );
        }
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !dir.is_dir() {
            bail!(
                "{flag} {}: no directory {}; create it or choose another path",
                path.display(),
                dir.display()
            );
        }
        try_create_in(dir)
            .with_context(|| format!("{flag} {}: cannot write there", path.display()))?;
    }
    if let Some(html) = &exports.html {
        let existing = html
            .ancestors()
            .find(|p| p.exists())
            .unwrap_or(Path::new("."));
        if !existing.as_os_str().is_empty() && !existing.is_dir() {
            bail!(
                "--html {}: {} is not a directory; give a directory path",
                html.display(),
                existing.display()
            );
        }
        let dir = match existing.as_os_str().is_empty() {
            true => Path::new("."),
            false => existing,
        };
        try_create_in(dir)
            .with_context(|| format!("--html {}: cannot write there", html.display()))?;
    }
    Ok(())
}

/// Creates a temporary file in `dir` and removes it.
fn try_create_in(dir: &Path) -> std::io::Result<()> {
    tempfile::Builder::new()
        .prefix(".isobench-probe-write-")
        .tempfile_in(dir)
        .map(drop)
}

/// `comparison.json`: the "VMs vs containers" table in its two tiers (run.json stays the raw
/// record). Only for a record with trials; returns whether it was written, for the links.
fn write_comparison(dir: &Path, record: &RunRecord) -> Result<bool> {
    if !record.has_trials() {
        return Ok(false);
    }
    write_atomic(
        &dir.join("comparison.json"),
        &reports::comparison::json::render(record),
    )?;
    Ok(true)
}

/// One row per sample of `source`, streamed into place atomically.
fn write_csv(path: &Path, record: &RunRecord, source: &dyn SampleSource) -> Result<()> {
    reports::atomic::write_with(path, |out| {
        reports::csv::write_from(out, record, source).map_err(std::io::Error::other)
    })
    .with_context(|| format!("cannot write {}", path.display()))
}

fn write_markdown(path: &Path, record: &RunRecord) -> Result<()> {
    write_atomic(path, reports::markdown::render(record).as_bytes())
}

/// The raw-data link to comparison.json, when it was written.
const COMPARISON_LINK: (&str, &str) = ("comparison JSON", "comparison.json");

/// run.json, comparison.json, run.csv, run.md and the HTML report (index.html + PNG charts) in
/// the run directory.
pub fn write_run_files(dir: &Path, record: &RunRecord, source: &dyn SampleSource) -> Result<()> {
    write_json(&dir.join("run.json"), record, source)?;
    let comparison = write_comparison(dir, record)?;
    write_csv(&dir.join("run.csv"), record, source)?;
    write_markdown(&dir.join("run.md"), record)?;
    let mut links = vec![("JSON", "run.json")];
    links.extend(comparison.then_some(COMPARISON_LINK));
    links.extend([("CSV", "run.csv"), ("Markdown", "run.md")]);
    reports::html::write(record, dir, &links)
        .with_context(|| format!("cannot write the HTML report into {}", dir.display()))
}

/// `<stem>.md` and the HTML report beside the `<stem>.json` a density or burst run wrote.
pub fn write_markdown_and_html(dir: &Path, record: &RunRecord, stem: &str) -> Result<()> {
    let (json, markdown) = (format!("{stem}.json"), format!("{stem}.md"));
    write_markdown(&dir.join(&markdown), record)?;
    reports::html::write(record, dir, &[("JSON", &json), ("Markdown", &markdown)])
        .with_context(|| format!("cannot write the HTML report into {}", dir.display()))
}

/// A self-contained HTML report in `dir`: the page, its charts, and the raw data it links to.
fn write_html(dir: &Path, record: &RunRecord, source: &dyn SampleSource) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("--html {}: cannot create the directory", dir.display()))?;
    write_json(&dir.join("run.json"), record, source)?;
    let comparison = write_comparison(dir, record)?;
    write_csv(&dir.join("run.csv"), record, source)?;
    let mut links = vec![("JSON", "run.json")];
    links.extend(comparison.then_some(COMPARISON_LINK));
    links.push(("CSV", "run.csv"));
    reports::html::write(record, dir, &links).with_context(|| format!("--html {}", dir.display()))
}

/// The files asked for with --export-json/--export-csv/--export-markdown.
pub fn write_requested(
    exports: &ExportArgs,
    record: &RunRecord,
    source: &dyn SampleSource,
) -> Result<()> {
    if let Some(path) = &exports.export_json {
        write_json(path, record, source)?;
    }
    if let Some(path) = &exports.export_csv {
        write_csv(path, record, source)?;
    }
    if let Some(path) = &exports.export_markdown {
        write_markdown(path, record)?;
    }
    if let Some(dir) = &exports.html {
        write_html(dir, record, source)?;
    }
    Ok(())
}

/// The terminal rendering: fitted to the terminal's width, in colour unless NO_COLOR is set;
/// at natural width and plain when stdout is a file or a pipe.
pub fn terminal(record: &RunRecord) -> String {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return reports::terminal::render(record);
    }
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ only fills the winsize we pass; stdout is a terminal.
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    let width = (ok && size.ws_col > 0).then_some(usize::from(size.ws_col));
    let color = std::env::var_os("NO_COLOR").is_none();
    reports::terminal::render_with(record, reports::terminal::Options { width, color })
}
