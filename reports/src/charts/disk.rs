//! The disk chart: each isolator's on-disk footprint as a bar split into runtime and image.
use plotters::prelude::*;

use super::{
    byte_unit, draw_png, font, legend_strip, row_centre, row_label, row_labels, unit_label,
    ChartError, Rendered, HEIGHT, WIDTH,
};
use crate::schema::RunRecord;
use crate::units;

pub const CAPTION: &str = "Apparent size of the files each isolator needs: the runtime (engine \
    binaries, VMM, kernel) and the image (rootfs, disk image). Isolators that share the probe binary \
    show only its size.";

const RUNTIME: RGBColor = RGBColor(120, 60, 170);
const IMAGE: RGBColor = RGBColor(44, 160, 44);

/// The disk footprint chart as PNG bytes, or why there is nothing to draw.
pub fn render(record: &RunRecord) -> Result<Rendered, ChartError> {
    let bars: Vec<(String, f64, f64)> = record
        .isolators
        .iter()
        .filter(|i| i.unavailable_reason.is_none())
        .filter_map(|i| {
            let disk = i.disk.as_ref()?;
            Some((
                row_label(i),
                disk.runtime_apparent_bytes as f64,
                disk.image_apparent_bytes as f64,
            ))
        })
        .collect();
    if bars.is_empty() {
        return Ok(Rendered::NoData(
            "no isolator has a disk measurement in this run".into(),
        ));
    }
    let widest = bars.iter().map(|b| b.1 + b.2).fold(1.0f64, f64::max);
    let (per_unit, unit) = byte_unit(widest);
    let png = draw_png("disk", (WIDTH, HEIGHT), |root| {
        root.fill(&WHITE)?;
        let titled = root.titled("Disk footprint per isolator (apparent size)", font(18))?;
        let (legend, plot) = titled.split_vertically(24);
        legend_strip(
            &legend,
            &[
                ("runtime".to_string(), RUNTIME),
                ("image".to_string(), IMAGE),
            ],
        )?;
        let count = bars.len();
        let mut chart = ChartBuilder::on(&plot)
            .margin(8)
            .margin_right(40)
            .x_label_area_size(34)
            .y_label_area_size(150)
            .build_cartesian_2d(0.0..widest * 1.25 / per_unit, -0.5..count as f64 - 0.5)?;
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
        let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
        row_labels(root, &labels, |y| chart.backend_coord(&(0.0, y)))?;
        for (index, (_, runtime, image)) in bars.iter().enumerate() {
            let centre = row_centre(index, count);
            let (low, high) = (centre - 0.32, centre + 0.32);
            chart.draw_series([
                Rectangle::new([(0.0, low), (runtime / per_unit, high)], RUNTIME.filled()),
                Rectangle::new(
                    [
                        (runtime / per_unit, low),
                        ((runtime + image) / per_unit, high),
                    ],
                    IMAGE.filled(),
                ),
            ])?;
            chart.draw_series([Text::new(
                format!("{} + {}", units::bytes(*runtime), units::bytes(*image)),
                ((runtime + image + widest * 0.01) / per_unit, centre + 0.12),
                font(12),
            )])?;
        }
        Ok(())
    })?;
    Ok(Rendered::Png(png))
}
