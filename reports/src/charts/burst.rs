//! The burst chart: launch latency (p50 solid, p99 dashed) against the concurrency held in the
//! closed loop (left) and against the open loop's arrival rate (right), one colour per isolator.
use plotters::prelude::*;

use super::{
    draw_png, font, legend_strip, row_label, series_colour, Area, ChartError, DrawResult, Rendered,
    WIDTH,
};
use crate::schema::{BurstLoad, RunRecord};
use crate::units::duration_tick;

pub const FILE_NAME: &str = "burst.png";

pub const CAPTION: &str = "From isobench burst. Left: latency of each launch (launch → ready) \
    while N launches are in flight at once (closed loop); right: latency from when each launch \
    was due at a fixed arrival rate (open loop; a launch waiting for a free worker is late by \
    that wait). Solid: p50, dashed: p99. Both axes logarithmic.";

const HEIGHT: u32 = 460;

/// One isolator's (x, p50, p99) points of one loop kind, by x.
type Curve = Vec<(f64, f64, f64)>;

/// The burst chart as PNG bytes, or why there is nothing to draw.
pub fn render(record: &RunRecord) -> Result<Rendered, ChartError> {
    if record.burst.iter().all(|p| p.latency.is_none()) {
        return Ok(Rendered::NoData(
            "no burst results in this run (run isobench burst to record them)".into(),
        ));
    }
    let mut names: Vec<&str> = Vec::new();
    for point in &record.burst {
        if !names.contains(&point.isolator.as_str()) {
            names.push(&point.isolator);
        }
    }
    let curve = |name: &str, x: fn(&BurstLoad) -> Option<f64>| -> Curve {
        let mut points: Curve = record
            .burst
            .iter()
            .filter(|p| p.isolator == name)
            .filter_map(|p| Some((x(&p.load)?, p.latency_ns(0.5)?, p.latency_ns(0.99)?)))
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        points
    };
    let closed: Vec<Curve> = names.iter().map(|n| curve(n, concurrency)).collect();
    let open: Vec<Curve> = names.iter().map(|n| curve(n, rate)).collect();
    let png = draw_png("burst", (WIDTH, HEIGHT), |root| {
        root.fill(&WHITE)?;
        let titled = root.titled("Burst: launch latency under load", font(18))?;
        let (legend, panels) = titled.split_vertically(24);
        let entries: Vec<(String, RGBColor)> = names
            .iter()
            .enumerate()
            .map(|(index, name)| {
                // Starred when its numbers are flagged (software KVM), as in every chart.
                let label = record.isolator(name).map_or(name.to_string(), row_label);
                (label, series_colour(index))
            })
            .collect();
        legend_strip(&legend, &entries)?;
        let (left, right) = panels.split_horizontally(WIDTH / 2);
        panel(&left, &closed, "closed loop", "launches in flight")?;
        panel(&right, &open, "open loop", "arrival rate, launches/s")
    })?;
    Ok(Rendered::Png(png))
}

fn concurrency(load: &BurstLoad) -> Option<f64> {
    match load {
        BurstLoad::Closed { concurrency } => Some(f64::from(*concurrency)),
        BurstLoad::Open { .. } => None,
    }
}

fn rate(load: &BurstLoad) -> Option<f64> {
    match load {
        BurstLoad::Open {
            rate_per_second, ..
        } => Some(*rate_per_second),
        BurstLoad::Closed { .. } => None,
    }
}

/// One panel: p50 and p99 per isolator against x, both axes on a log scale.
fn panel(area: &Area<'_>, curves: &[Curve], title: &str, x_desc: &str) -> DrawResult {
    let all = curves.iter().flatten();
    let Some(x_low) = all.clone().map(|p| p.0).reduce(f64::min) else {
        let grey = BLACK.mix(0.6);
        let style = font(14).color(&grey);
        area.draw(&Text::new(
            format!("{title}: not measured"),
            (40, 60),
            style,
        ))?;
        return Ok(());
    };
    let x_high = all.clone().map(|p| p.0).fold(x_low, f64::max);
    let y_low = all
        .clone()
        .map(|p| p.1)
        .fold(f64::INFINITY, f64::min)
        .max(1.0);
    let y_high = all.clone().map(|p| p.2).fold(y_low, f64::max);
    // A tick at every load measured (1, 2, 4 … in flight; each rate).
    let mut ticks: Vec<f64> = all.map(|p| p.0).collect();
    ticks.sort_by(f64::total_cmp);
    ticks.dedup();
    let mut chart = ChartBuilder::on(area)
        .caption(title, font(16))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(
            (x_low / 1.3..x_high * 1.3)
                .log_scale()
                .with_key_points(ticks),
            (y_low / 1.5..y_high * 1.5).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .x_labels(8)
        .y_labels(8)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| duration_tick(*v))
        .label_style(font(12))
        .axis_desc_style(font(12))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.12))
        .draw()?;
    for (index, curve) in curves.iter().enumerate() {
        let colour = series_colour(index);
        let p50: Vec<(f64, f64)> = curve.iter().map(|p| (p.0, p.1)).collect();
        let p99: Vec<(f64, f64)> = curve.iter().map(|p| (p.0, p.2)).collect();
        chart.draw_series(LineSeries::new(p50.clone(), colour.stroke_width(2)))?;
        chart.draw_series(p50.into_iter().map(|p| Circle::new(p, 3, colour.filled())))?;
        chart.draw_series(DashedLineSeries::new(
            p99.clone(),
            6,
            4,
            colour.stroke_width(2),
        ))?;
        chart.draw_series(
            p99.into_iter()
                .map(|p| TriangleMarker::new(p, 4, colour.filled())),
        )?;
    }
    Ok(())
}
