//! Horizontal stacked byte bars, one row per isolator: the shared frame of the memory and disk charts.
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::{byte_unit, canvas, font, row_centre, row_labels, unit_label, Area};

/// One row of a [`stacked_byte_bars`] chart.
pub(crate) struct StackedBar {
    /// The row label (an isolator's name, see [`super::row_label`]).
    pub label: String,
    /// The segments, left to right: bytes and colour.
    pub segments: Vec<(f64, RGBColor)>,
    /// Written just after the bar's end.
    pub text: String,
}

impl StackedBar {
    /// All segments together, in bytes.
    fn total(&self) -> f64 {
        self.segments.iter().map(|(bytes, _)| bytes).sum()
    }
}

/// The chart [`stacked_byte_bars`] drew: x in the byte axis's unit, y in rows.
pub(crate) type BarChart<'a, 'b> =
    ChartContext<'a, canvas::Canvas<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Draws `bars` top row first on `plot`, their labels beside them on `root`, over a byte axis
/// running to `headroom` times the longest bar. Returns the chart, for drawing more on top,
/// and the bytes per axis unit.
pub(crate) fn stacked_byte_bars<'a, 'b>(
    root: &Area<'b>,
    plot: &'a Area<'b>,
    bars: &[StackedBar],
    headroom: f64,
) -> Result<(BarChart<'a, 'b>, f64), Box<dyn std::error::Error>> {
    stacked_bars(root, plot, bars, headroom, Axis::Bytes)
}

/// What a stacked bar chart's x axis counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Axis {
    /// Bytes, in the unit that suits the longest bar.
    Bytes,
    /// Percent (the segments are already percentages).
    Percent,
}

/// [`stacked_byte_bars`] over either axis.
pub(crate) fn stacked_bars<'a, 'b>(
    root: &Area<'b>,
    plot: &'a Area<'b>,
    bars: &[StackedBar],
    headroom: f64,
    axis: Axis,
) -> Result<(BarChart<'a, 'b>, f64), Box<dyn std::error::Error>> {
    let widest = bars.iter().map(StackedBar::total).fold(1.0f64, f64::max);
    let (per_unit, unit) = match axis {
        Axis::Bytes => byte_unit(widest),
        Axis::Percent => (1.0, "%"),
    };
    let count = bars.len();
    let mut chart = ChartBuilder::on(plot)
        .margin(8)
        .margin_right(40)
        .x_label_area_size(34)
        .y_label_area_size(150)
        .build_cartesian_2d(0.0..widest * headroom / per_unit, -0.5..count as f64 - 0.5)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_labels(8)
        .x_label_formatter(&|v| unit_label(*v, unit))
        .x_label_style(font(12))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.12))
        .draw()?;
    let labels: Vec<String> = bars.iter().map(|b| b.label.clone()).collect();
    row_labels(root, &labels, |y| chart.backend_coord(&(0.0, y)))?;
    for (index, bar) in bars.iter().enumerate() {
        let centre = row_centre(index, count);
        let mut start = 0.0;
        for (bytes, colour) in &bar.segments {
            chart.draw_series([Rectangle::new(
                [
                    (start / per_unit, centre - 0.32),
                    ((start + bytes) / per_unit, centre + 0.32),
                ],
                colour.filled(),
            )])?;
            start += bytes;
        }
        chart.draw_series([Text::new(
            bar.text.clone(),
            ((start + widest * 0.01) / per_unit, centre + 0.12),
            font(12),
        )])?;
    }
    Ok((chart, per_unit))
}
