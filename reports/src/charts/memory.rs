//! The memory chart: each isolator's median footprint as a bar split into where the memory is
//! (processes' PSS, VMM overhead, guest RAM resident, kernel memory), with the overhead
//! over the bare process written at the end of the bar.
use plotters::prelude::*;

use super::bars::{stacked_byte_bars, StackedBar};
use super::{draw_png, font, legend_strip, median, row_label, ChartError, Rendered, HEIGHT, WIDTH};
use crate::schema::{IsolatorRecord, MemorySample, RunRecord};
use crate::units;

pub const CAPTION: &str = "Median per component over the measured trials (medians of components \
    need not add up exactly to the median footprint). For VMs the VMM process's resident memory is \
    split into guest RAM and VMM overhead; the label gives the footprint and, in brackets, the \
    overhead over the bare process. Kernel memory is what is charged to the instance's cgroup plus, \
    for its processes outside one, an estimate (page tables and kernel stacks). The dashed line is \
    the bare process's footprint.";

/// The components, in stacking order, with their colours.
const COMPONENTS: [(&str, RGBColor); 4] = [
    ("processes' PSS", RGBColor(31, 119, 180)),
    ("guest RAM resident", RGBColor(230, 120, 0)),
    ("VMM overhead", RGBColor(200, 30, 40)),
    ("kernel memory", RGBColor(44, 160, 44)),
];

/// One sample split into [`COMPONENTS`], in bytes.
fn components(memory: &MemorySample) -> [f64; 4] {
    let memory = &memory.usage;
    let guest = memory.guest_ram_resident_bytes.unwrap_or(0);
    let vmm = memory.vmm_overhead_bytes.unwrap_or(0);
    let rest = memory.pss_bytes.saturating_sub(guest + vmm);
    [
        rest as f64,
        guest as f64,
        vmm as f64,
        memory.kernel_bytes() as f64,
    ]
}

/// An isolator's bar: the median of each component (empty ones left out), labelled with the
/// median footprint and the overhead over the bare process.
fn bar(isolator: &IsolatorRecord) -> StackedBar {
    let split: Vec<[f64; 4]> = isolator
        .samples
        .iter()
        .map(|s| components(&s.memory))
        .collect();
    let parts: [f64; 4] = std::array::from_fn(|c| {
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
    StackedBar {
        label: row_label(isolator),
        segments: parts
            .into_iter()
            .zip(COMPONENTS.map(|(_, colour)| colour))
            .filter(|(part, _)| *part > 0.0)
            .collect(),
        text: format!("{}{overhead}", units::bytes(footprint)),
    }
}

/// The memory breakdown chart as PNG bytes, or why there is nothing to draw.
pub fn render(record: &RunRecord) -> Result<Rendered, ChartError> {
    let bars: Vec<StackedBar> = record
        .isolators
        .iter()
        .filter(|i| i.status.is_available() && !i.samples.is_empty())
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
        let (mut chart, per_unit) = stacked_byte_bars(root, &plot, &bars, 1.32)?;
        let count = bars.len();
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
