//! PNG charts of a run, drawn in memory with plotters: one module per chart, shared drawing helpers here.
use std::error::Error;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::schema::{IsolatorRecord, Kind, RunRecord};

mod bars;
pub mod burst;
mod canvas;
pub mod density;
pub mod disk;
mod distribution;
pub mod host_cost;
pub mod memory;
pub mod phases;
pub mod startup;
pub mod teardown;

/// Every chart's width, and the height of the one-panel charts, in pixels.
pub const WIDTH: u32 = 900;
pub const HEIGHT: u32 = 420;

/// Why a chart could not be drawn (data problems are [`Rendered::NoData`], not errors).
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("drawing the {chart} chart: {detail}")]
    Draw { chart: &'static str, detail: String },
    #[error("encoding the {chart} chart as PNG: {source}")]
    Encode {
        chart: &'static str,
        source: png::EncodingError,
    },
}

/// What one chart module produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Rendered {
    /// A PNG file's bytes.
    Png(Vec<u8>),
    /// Nothing to draw, and why (shown in the report instead of the chart).
    NoData(String),
}

/// One chart of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// File name inside the report directory, e.g. `startup.png`.
    pub file_name: &'static str,
    pub title: &'static str,
    /// How to read it.
    pub caption: &'static str,
    pub rendered: Rendered,
}

/// The file name of every chart [`all`] may draw, so a report can remove stale ones.
pub const FILE_NAMES: [&str; 8] = [
    "startup.png",
    "phases.png",
    "memory.png",
    host_cost::FILE_NAME,
    "disk.png",
    "teardown.png",
    "density.png",
    burst::FILE_NAME,
];

/// Draws every chart of the report, in page order; the host-cost chart only when some isolator
/// has host-cost data.
pub fn all(record: &RunRecord) -> Result<Vec<Chart>, ChartError> {
    let mut charts = vec![
        Chart {
            file_name: "startup.png",
            title: "Startup time",
            caption: startup::CAPTION,
            rendered: startup::render(record)?,
        },
        Chart {
            file_name: "phases.png",
            title: "Startup phases of each VM",
            caption: phases::CAPTION,
            rendered: phases::render(record)?,
        },
        Chart {
            file_name: "memory.png",
            title: "Memory footprint and overhead",
            caption: memory::CAPTION,
            rendered: memory::render(record)?,
        },
        Chart {
            file_name: "disk.png",
            title: "Disk footprint",
            caption: disk::CAPTION,
            rendered: disk::render(record)?,
        },
        Chart {
            file_name: "teardown.png",
            title: "Teardown time",
            caption: teardown::CAPTION,
            rendered: teardown::render(record)?,
        },
        Chart {
            file_name: "density.png",
            title: "Density",
            caption: density::CAPTION,
            rendered: density::render(record)?,
        },
    ];
    if !record.burst.is_empty() {
        charts.push(Chart {
            file_name: burst::FILE_NAME,
            title: "Burst: latency under load",
            caption: burst::CAPTION,
            rendered: burst::render(record)?,
        });
    }
    if !crate::host_cost::rows(record).is_empty() {
        let chart = Chart {
            file_name: host_cost::FILE_NAME,
            title: "Host cost per instance",
            caption: host_cost::CAPTION,
            rendered: host_cost::render(record)?,
        };
        charts.insert(3, chart);
    }
    Ok(charts)
}

pub(crate) type Area<'a> = DrawingArea<canvas::Canvas<'a>, Shift>;
pub(crate) type DrawResult = Result<(), Box<dyn Error>>;

/// Runs `paint` on a white `width`×`height` RGB canvas and encodes the result as PNG.
pub(crate) fn draw_png(
    chart: &'static str,
    (width, height): (u32, u32),
    paint: impl FnOnce(&Area<'_>) -> DrawResult,
) -> Result<Vec<u8>, ChartError> {
    crate::fonts::register();
    let mut pixels = vec![255u8; width as usize * height as usize * 3];
    {
        let root = canvas::Canvas::new(&mut pixels, (width, height)).into_drawing_area();
        let drawn = paint(&root).and_then(|()| Ok(root.present()?));
        drawn.map_err(|e| ChartError::Draw {
            chart,
            detail: e.to_string(),
        })?;
    }
    encode_png(&pixels, (width, height)).map_err(|source| ChartError::Encode { chart, source })
}

fn encode_png(rgb: &[u8], (width, height): (u32, u32)) -> Result<Vec<u8>, png::EncodingError> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Best);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(bytes)
}

/// The text style of titles, labels and legends, `size` pixels from descender to ascender
/// (drawn by [`canvas::Canvas`] with the embedded font, whatever the family says).
pub(crate) fn font(size: u32) -> TextStyle<'static> {
    ("sans-serif", size).into_font().color(&BLACK)
}

/// The colour of an isolator class (`kind`), used across charts.
pub(crate) fn kind_colour(kind: Kind) -> RGBColor {
    match kind {
        Kind::Process => RGBColor(110, 110, 110),
        Kind::Container => RGBColor(31, 119, 180),
        Kind::Sandbox => RGBColor(230, 120, 0),
        Kind::Microvm => RGBColor(200, 30, 40),
    }
}

/// A distinct colour per series (isolators in the density chart).
pub(crate) fn series_colour(index: usize) -> RGBColor {
    const PALETTE: [RGBColor; 8] = [
        RGBColor(31, 119, 180),
        RGBColor(200, 30, 40),
        RGBColor(44, 160, 44),
        RGBColor(230, 120, 0),
        RGBColor(120, 60, 170),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(23, 190, 207),
    ];
    PALETTE[index % PALETTE.len()]
}

/// The label of an isolator on a chart axis: its name, starred when its numbers are flagged.
/// The isolator's name (marked when flagged), and on a second line "10,000 of 100,000" when the
/// chart draws a subset of its samples ([`row_labels`] draws it smaller, under the name).
pub(crate) fn row_label(isolator: &IsolatorRecord) -> String {
    let name = crate::table::marked_name(isolator);
    match crate::samples::subset_note(isolator) {
        Some(subset) => format!("{name}\n{subset}"),
        None => name,
    }
}

/// Draws a one-line legend of coloured squares and labels across `area`.
pub(crate) fn legend_strip(area: &Area<'_>, entries: &[(String, RGBColor)]) -> DrawResult {
    let mut x = 10i32;
    let y = area.dim_in_pixel().1 as i32 / 2;
    for (label, colour) in entries {
        area.draw(&Rectangle::new(
            [(x, y - 6), (x + 12, y + 6)],
            colour.filled(),
        ))?;
        let style = font(14).pos(Pos::new(HPos::Left, VPos::Center));
        area.draw(&Text::new(label.clone(), (x + 17, y), style))?;
        let (text_width, _) = area.estimate_text_size(label, &font(14))?;
        x += 17 + text_width as i32 + 22;
    }
    Ok(())
}

/// Row labels drawn beside a chart whose y axis is rows `0..labels.len()`, top row first.
/// `place` maps (x in data units, row centre) to backend pixels.
pub(crate) fn row_labels(
    root: &Area<'_>,
    labels: &[String],
    place: impl Fn(f64) -> (i32, i32),
) -> DrawResult {
    let rows = labels.len();
    for (index, label) in labels.iter().enumerate() {
        let (x, y) = place(row_centre(index, rows));
        let base = root.get_base_pixel();
        let (x, y) = (x - 8 - base.0, y - base.1);
        // A second line (a subset note, see [`row_label`]) goes under the name, smaller.
        let (name, under) = label.split_once('\n').unwrap_or((label, ""));
        let shift = if under.is_empty() { 0 } else { 8 };
        let style = font(14).pos(Pos::new(HPos::Right, VPos::Center));
        root.draw(&Text::new(name.to_string(), (x, y - shift), style))?;
        if !under.is_empty() {
            let style = font(11).pos(Pos::new(HPos::Right, VPos::Center));
            root.draw(&Text::new(under.to_string(), (x, y + shift), style))?;
        }
    }
    Ok(())
}

/// The y coordinate of row `index` when rows run top to bottom over `-0.5..rows-0.5`.
pub(crate) fn row_centre(index: usize, rows: usize) -> f64 {
    (rows - 1 - index) as f64
}

/// Median of a slice that need not be sorted; None when empty.
pub(crate) fn median(values: &[f64]) -> Option<f64> {
    quantile(values, 0.5)
}

/// Linear-interpolated quantile `q` in 0..=1; None when empty.
pub(crate) fn quantile(values: &[f64], q: f64) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let last = sorted.len().checked_sub(1)?;
    let position = q.clamp(0.0, 1.0) * last as f64;
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    Some(sorted[low] + (sorted[high] - sorted[low]) * (position - low as f64))
}

/// The unit of a byte axis, chosen so its ticks land on round numbers: (bytes per unit, name).
pub(crate) fn byte_unit(max_bytes: f64) -> (f64, &'static str) {
    const KIB: f64 = 1024.0;
    if max_bytes >= KIB * KIB * KIB {
        (KIB * KIB * KIB, "GiB")
    } else if max_bytes >= KIB * KIB {
        (KIB * KIB, "MiB")
    } else if max_bytes >= KIB {
        (KIB, "KiB")
    } else {
        (1.0, "B")
    }
}

/// A tick label in a byte axis's unit: `20 MiB`, `2.5 MiB`.
pub(crate) fn unit_label(value: f64, unit: &str) -> String {
    let rounded = (value * 1000.0).round() / 1000.0;
    format!("{rounded} {unit}")
}
