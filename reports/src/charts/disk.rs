//! The disk chart: each isolator's on-disk footprint as a bar split into runtime and image.
use plotters::prelude::*;

use super::bars::{stacked_byte_bars, StackedBar};
use super::{draw_png, font, legend_strip, row_label, ChartError, Rendered, HEIGHT, WIDTH};
use crate::schema::RunRecord;
use crate::units;

pub const CAPTION: &str = "Apparent size of the files each isolator needs: the runtime (engine \
    binaries, VMM, kernel) and the image (rootfs, disk image). Isolators that share the probe binary \
    show only its size.";

const RUNTIME: RGBColor = RGBColor(120, 60, 170);
const IMAGE: RGBColor = RGBColor(44, 160, 44);

/// The disk footprint chart as PNG bytes, or why there is nothing to draw.
pub fn render(record: &RunRecord) -> Result<Rendered, ChartError> {
    let bars: Vec<StackedBar> = record
        .isolators
        .iter()
        .filter(|i| i.status.is_available())
        .filter_map(|i| {
            let disk = i.disk.as_ref()?;
            let runtime = disk.runtime_apparent_bytes as f64;
            let image = disk.image_apparent_bytes as f64;
            Some(StackedBar {
                label: row_label(i),
                segments: vec![(runtime, RUNTIME), (image, IMAGE)],
                text: format!("{} + {}", units::bytes(runtime), units::bytes(image)),
            })
        })
        .collect();
    if bars.is_empty() {
        return Ok(Rendered::NoData(
            "no isolator has a disk measurement in this run".into(),
        ));
    }
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
        stacked_byte_bars(root, &plot, &bars, 1.25)?;
        Ok(())
    })?;
    Ok(Rendered::Png(png))
}
