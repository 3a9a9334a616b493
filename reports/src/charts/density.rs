//! The density chart: per-instance memory and launch rate against the number of instances held.
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::{
    byte_unit, draw_png, font, legend_strip, series_colour, unit_label, Area, ChartError,
    DrawResult, Rendered, HEIGHT, WIDTH,
};
use crate::schema::{DensityPoint, RunRecord};

pub const CAPTION: &str = "From isobench density: N instances of one isolator held at once. Left, \
    what each instance costs (PSS + cgroup kernel memory, divided by the instances reached); right, \
    how many launches per second the launchers achieved until all were ready.";

/// The density chart as PNG bytes, or why there is nothing to draw.
pub fn render(record: &RunRecord) -> Result<Rendered, ChartError> {
    if record.density.is_empty() {
        return Ok(Rendered::NoData(
            "no density results in this run (run isobench density to record them)".into(),
        ));
    }
    let mut names: Vec<&str> = Vec::new();
    for point in &record.density {
        if !names.contains(&point.isolator.as_str()) {
            names.push(&point.isolator);
        }
    }
    let series: Vec<(&str, Vec<&DensityPoint>)> = names
        .iter()
        .map(|name| {
            let mut points: Vec<&DensityPoint> = record
                .density
                .iter()
                .filter(|p| p.isolator == *name)
                .collect();
            points.sort_by_key(|p| p.reached);
            (*name, points)
        })
        .collect();
    let png = draw_png("density", (WIDTH, HEIGHT), |root| {
        root.fill(&WHITE)?;
        let titled = root.titled("Density: many instances at once", font(18))?;
        let (legend, panels) = titled.split_vertically(24);
        let entries: Vec<(String, RGBColor)> = series
            .iter()
            .enumerate()
            .map(|(index, (name, _))| (name.to_string(), series_colour(index)))
            .collect();
        legend_strip(&legend, &entries)?;
        let (left, right) = panels.split_horizontally(WIDTH / 2);
        let most = record
            .density
            .iter()
            .map(|p| p.per_instance_footprint_bytes)
            .max()
            .unwrap_or(0);
        let (per_unit, unit) = byte_unit(most as f64);
        panel(
            &left,
            &series,
            "memory per instance",
            &|p| p.per_instance_footprint_bytes as f64 / per_unit,
            &|v| unit_label(v, unit),
        )?;
        panel(
            &right,
            &series,
            "launches per second",
            &|p| p.launches_per_second,
            &|v| format!("{v:.0}/s"),
        )
    })?;
    Ok(Rendered::Png(png))
}

/// Values spreading more than this factor (max / min) get a log axis.
const LOG_SPREAD: f64 = 20.0;

/// One panel: `value` per series against instances reached, on a log y axis when values spread.
fn panel(
    area: &Area<'_>,
    series: &[(&str, Vec<&DensityPoint>)],
    title: &str,
    value: &dyn Fn(&DensityPoint) -> f64,
    format: &dyn Fn(f64) -> String,
) -> DrawResult {
    let values = series.iter().flat_map(|(_, p)| p.iter()).map(|p| value(p));
    let low = values
        .clone()
        .filter(|v| *v > 0.0)
        .fold(f64::INFINITY, f64::min);
    let high = values.fold(0.0f64, f64::max).max(1e-9);
    if low.is_finite() && high / low > LOG_SPREAD {
        let y = (low / 1.5..high * 1.5).log_scale();
        draw_panel(
            area,
            series,
            &format!("{title} (log scale)"),
            y,
            value,
            format,
        )
    } else {
        let y: RangedCoordf64 = (0.0..high * 1.15).into();
        draw_panel(area, series, title, y, value, format)
    }
}

fn draw_panel<Y>(
    area: &Area<'_>,
    series: &[(&str, Vec<&DensityPoint>)],
    title: &str,
    y: Y,
    value: &dyn Fn(&DensityPoint) -> f64,
    format: &dyn Fn(f64) -> String,
) -> DrawResult
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let points = series.iter().flat_map(|(_, p)| p.iter());
    let max_x = points.map(|p| p.reached).max().unwrap_or(1).max(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(title, font(16))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(78)
        .build_cartesian_2d(0.0..max_x * 1.05, y)?;
    chart
        .configure_mesh()
        .x_desc("instances held")
        .x_labels(6)
        .y_labels(6)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format(*v))
        .label_style(font(12))
        .axis_desc_style(font(12))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.12))
        .draw()?;
    for (index, (_, points)) in series.iter().enumerate() {
        let colour = series_colour(index);
        let xy: Vec<(f64, f64)> = points
            .iter()
            .map(|p| (p.reached as f64, value(p)))
            .collect();
        chart.draw_series(LineSeries::new(xy.clone(), colour.stroke_width(2)))?;
        chart.draw_series(xy.into_iter().map(|p| Circle::new(p, 3, colour.filled())))?;
    }
    Ok(())
}
