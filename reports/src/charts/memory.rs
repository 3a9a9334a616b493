//! The memory chart: each isolator's median footprint as a bar split into where the memory is
//! (processes' PSS, VMM overhead, guest RAM resident, cgroup kernel memory), with the overhead
//! over the bare process written at the end of the bar.
use plotters::prelude::*;

use super::{
    byte_unit, draw_png, font, legend_strip, median, row_centre, row_label, row_labels, unit_label,
    ChartError, Rendered, HEIGHT, WIDTH,
};
use crate::schema::{IsolatorRecord, MemorySample, RunRecord};
use crate::units;

pub const CAPTION: &str = "Median per component over the measured trials (medians of components \
    need not add up exactly to the median footprint). For VMs the VMM process's resident memory is \
    split into guest RAM and VMM overhead; the label gives the footprint and, in brackets, the \
    overhead over the bare process. The dashed line is the bare process's footprint.";

/// The components, in stacking order, with their colours.
const COMPONENTS: [(&str, RGBColor); 4] = [
    ("processes' PSS", RGBColor(31, 119, 180)),
    ("guest RAM resident", RGBColor(230, 120, 0)),
    ("VMM overhead", RGBColor(200, 30, 40)),
    ("cgroup kernel memory", RGBColor(44, 160, 44)),
];

/// One sample split into [`COMPONENTS`], in bytes.
fn components(memory: &MemorySample) -> [f64; 4] {
    let guest = memory.guest_ram_resident_bytes.unwrap_or(0);
    let vmm = memory.vmm_overhead_bytes.unwrap_or(0);
    let rest = memory.pss_bytes.saturating_sub(guest + vmm);
    [
        rest as f64,
        guest as f64,
        vmm as f64,
        memory.cgroup_kernel_bytes.unwrap_or(0) as f64,
    ]
}

struct Bar {
    label: String,
    parts: [f64; 4],
    text: String,
}

fn bar(isolator: &IsolatorRecord) -> Bar {
    let split: Vec<[f64; 4]> = isolator
        .samples
        .iter()
        .map(|s| components(&s.memory))
        .collect();
    let parts = std::array::from_fn(|c| {
        median(&split.iter().map(|p| p[c]).collect::<Vec<_>>()).unwrap_or(0.0)
    });
    let summary = isolator.summary.as_ref();
    let footprint = summary.map_or_else(
        || {
            median(
                &isolator
                    .samples
                    .iter()
                    .map(|s| s.memory.footprint_bytes as f64)
                    .collect::<Vec<_>>(),
            )
            .unwrap_or(0.0)
        },
        |s| s.footprint_bytes.median,
    );
    let overhead = summary
        .and_then(|s| s.memory_overhead_bytes.as_ref())
        .map(|o| {
            format!(
                " ({}{})",
                if o.median >= 0.0 { "+" } else { "" },
                units::bytes(o.median)
            )
        })
        .unwrap_or_default();
    Bar {
        label: row_label(isolator),
        parts,
        text: format!("{}{overhead}", units::bytes(footprint)),
    }
}

/// The memory breakdown chart as PNG bytes, or why there is nothing to draw.
pub fn render(record: &RunRecord) -> Result<Rendered, ChartError> {
    let bars: Vec<Bar> = record
        .isolators
        .iter()
        .filter(|i| i.unavailable_reason.is_none() && !i.samples.is_empty())
        .map(bar)
        .collect();
    if bars.is_empty() {
        return Ok(Rendered::NoData(
            "no isolator has memory samples in this run".into(),
        ));
    }
    let baseline = record
        .isolator("process")
        .and_then(|p| p.summary.as_ref())
        .map(|s| s.footprint_bytes.median);
    let widest = bars
        .iter()
        .map(|b| b.parts.iter().sum::<f64>())
        .fold(1.0f64, f64::max);
    let (per_unit, unit) = byte_unit(widest);
    let png = draw_png("memory", (WIDTH, HEIGHT), |root| {
        root.fill(&WHITE)?;
        let titled = root.titled("Memory footprint per instance, by component", font(18))?;
        let (legend, plot) = titled.split_vertically(24);
        let mut entries: Vec<(String, RGBColor)> = COMPONENTS
            .iter()
            .map(|(n, c)| (n.to_string(), *c))
            .collect();
        if baseline.is_some() {
            entries.push(("- - process baseline".into(), WHITE));
        }
        legend_strip(&legend, &entries)?;
        let count = bars.len();
        let mut chart = ChartBuilder::on(&plot)
            .margin(8)
            .margin_right(40)
            .x_label_area_size(34)
            .y_label_area_size(150)
            .build_cartesian_2d(0.0..widest * 1.32 / per_unit, -0.5..count as f64 - 0.5)?;
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
            for (part, (_, colour)) in bar.parts.iter().zip(COMPONENTS) {
                if *part > 0.0 {
                    chart.draw_series([Rectangle::new(
                        [
                            (start / per_unit, centre - 0.32),
                            ((start + part) / per_unit, centre + 0.32),
                        ],
                        colour.filled(),
                    )])?;
                }
                start += part;
            }
            chart.draw_series([Text::new(
                bar.text.clone(),
                ((start + widest * 0.01) / per_unit, centre + 0.12),
                font(12),
            )])?;
        }
        if let Some(baseline) = baseline {
            chart.draw_series(DashedLineSeries::new(
                [
                    (baseline / per_unit, -0.5),
                    (baseline / per_unit, count as f64 - 0.5),
                ],
                6,
                4,
                BLACK.stroke_width(1),
            ))?;
        }
        Ok(())
    })?;
    Ok(Rendered::Png(png))
}
