//! The HTML report: one self-contained `index.html` (inline CSS, no network) plus PNG charts.
use std::path::Path;

use crate::charts::{self, Chart, ChartError, Rendered};
use crate::schema::RunRecord;

mod host_cost;
mod sections;

/// Why the report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum HtmlError {
    #[error(transparent)]
    Chart(#[from] ChartError),
    #[error("writing the HTML report to {path}: {source} — check the directory is writable")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Writes `index.html` and the charts' PNG files into `dir` (created if missing), each
/// atomically: a full disk leaves the earlier file (or none), never an empty or partial one.
/// `raw_links` are (label, relative href) pairs shown at the top, e.g. `("JSON", "run.json")`.
pub fn write(record: &RunRecord, dir: &Path, raw_links: &[(&str, &str)]) -> Result<(), HtmlError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| HtmlError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let charts = charts::all(record)?;
    for file_name in charts::FILE_NAMES {
        let path = dir.join(file_name);
        let drawn = charts.iter().find(|c| c.file_name == file_name);
        match drawn.map(|c| &c.rendered) {
            Some(Rendered::Png(bytes)) => crate::atomic::write(&path, bytes).map_err(io(&path))?,
            // A chart from an earlier report in the same directory would be misleading.
            Some(Rendered::NoData(_)) | None => match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&path)(e)),
                _ => {}
            },
        }
    }
    let path = dir.join("index.html");
    crate::atomic::write(&path, render(record, &charts, raw_links).as_bytes()).map_err(io(&path))
}

/// The page's text, given the charts already drawn (their files sit next to the page).
pub fn render(record: &RunRecord, charts: &[Chart], raw_links: &[(&str, &str)]) -> String {
    let mut page = String::with_capacity(64 * 1024);
    page += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
    page += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
    page += &format!(
        "<title>isobench results — {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&record.host.hostname)
    );
    page += "<h1>isobench results</h1>\n";
    page += &sections::host(record);
    page += &sections::warnings(record);
    page += &sections::raw_links(raw_links);
    if record.has_trials() {
        page += &sections::comparison(record);
        page += &sections::main_table(record);
    }
    page += &host_cost::section(record, charts);
    page += &charts_section(record, charts);
    page += &sections::statistics(record);
    page += &sections::phases(record);
    page += &sections::notes(record);
    page += &sections::unavailable(record);
    page += &sections::density(record);
    page += &sections::burst(record);
    page += &format!(
        "<footer>isobench {} ({}), results schema version {}</footer>\n",
        escape(&record.isobench_version),
        escape(&record.git_revision),
        record.schema_version
    );
    page += &format!("<script>{SCRIPT}</script>\n</body>\n</html>\n");
    page
}

/// Every chart but the host cost's, which has a section of its own; first, when the charts
/// draw a subset of an isolator's samples, a note saying how many.
fn charts_section(record: &RunRecord, charts: &[Chart]) -> String {
    let mut out = String::from("<section id=\"charts\">\n<h2>Charts</h2>\n");
    let subsets: Vec<String> = record
        .isolators
        .iter()
        .filter_map(|i| Some(format!("{}: {}", i.name, crate::samples::subset_note(i)?)))
        .collect();
    if !subsets.is_empty() {
        out += &format!(
            "<p class=\"note\">The charts draw a subset of the samples, evenly spread over the run ({} samples); every figure in the tables uses all of them.</p>\n",
            escape(&subsets.join(", "))
        );
    }
    for chart in charts
        .iter()
        .filter(|c| c.file_name != crate::charts::host_cost::FILE_NAME)
    {
        out += &figure(chart);
    }
    out + "</section>\n"
}

/// A drawn chart as a figure with its caption, or a note saying why there is none.
fn figure(chart: &Chart) -> String {
    match &chart.rendered {
        Rendered::Png(_) => format!(
            "<figure><img src=\"{}\" alt=\"{}\"><figcaption><b>{}.</b> {}</figcaption></figure>\n",
            escape(chart.file_name),
            escape(chart.title),
            escape(chart.title),
            escape(chart.caption)
        ),
        Rendered::NoData(reason) => format!(
            "<p class=\"note\"><b>{}</b>: no chart — {}.</p>\n",
            escape(chart.title),
            escape(reason)
        ),
    }
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out += "&amp;",
            '<' => out += "&lt;",
            '>' => out += "&gt;",
            '"' => out += "&quot;",
            '\'' => out += "&#39;",
            c => out.push(c),
        }
    }
    out
}

/// Records on `<body>` how many images loaded, for a headless browser's DOM dump to check.
const SCRIPT: &str = "function isobenchCountImages(){var all=document.images,loaded=0;\
for(var i=0;i<all.length;i++){if(all[i].complete&&all[i].naturalWidth>0){loaded++;}}\
document.body.setAttribute('data-images-total',String(all.length));\
document.body.setAttribute('data-images-loaded',String(loaded));}\
isobenchCountImages();window.addEventListener('load',isobenchCountImages);";

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:1.5rem auto;max-width:1180px;padding:0 1rem;color:#1d1d1f;line-height:1.4}
h1{margin:.2rem 0 .6rem}h2{margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}
th,td{border:1px solid #d6d6d6;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f2f2f4}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr:nth-child(even) td{background:#fafafa}
td:first-child{white-space:nowrap}
.host{font-size:1.05rem;font-weight:600}
dl.host-fields{display:grid;grid-template-columns:max-content 1fr;gap:.1rem 1rem;font-size:.9rem;margin:.5rem 0}
dl.host-fields dt{color:#555}dl.host-fields dd{margin:0}
.warnings{border:2px solid #c62828;background:#fff3f0;border-radius:6px;padding:.6rem 1rem;margin:1rem 0}
.warnings h2{margin:.2rem 0;border:0;color:#b71c1c}
.warnings li{margin:.25rem 0}.code{font-family:monospace;background:#c62828;color:#fff;border-radius:3px;padding:0 .35rem;margin-right:.4rem}
.ok{border:1px solid #2e7d32;background:#f1f8f1;border-radius:6px;padding:.4rem 1rem}
.links a{margin-right:1rem;font-weight:600}
.verdict{min-width:18rem;max-width:30rem}.flag{color:#b71c1c;font-weight:600}
#comparison td:first-child{white-space:normal;min-width:8rem}
figure{margin:1rem 0}figure img{max-width:100%;height:auto;border:1px solid #e2e2e2}
figcaption{font-size:.88rem;color:#444;max-width:900px}
.note{color:#555;font-style:italic}footer{margin-top:2rem;color:#777;font-size:.8rem}
";
