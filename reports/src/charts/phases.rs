//! The phase chart: one horizontal stacked bar per VM isolator, each segment the median time
//! from one startup phase stamp to the next (the first from launch, the last to ready). Phase
//! names are whatever the isolator stamped (`vmm-exec` … `init`, `qemu+guest boot`).
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters_backend::DrawingBackend;

use super::{
    canvas, draw_png, font, median, row_label, row_labels, Area, ChartError, DrawResult, Rendered,
    WIDTH,
};
use crate::schema::{IsolatorRecord, Kind, RunRecord};
use crate::units;

pub const CAPTION: &str = "Where each VM's startup goes. A segment is the median, over the \
    measured trials, of the time from the previous phase stamp (or launch) to the named one; \
    'until ready' runs from the last stamp to the probe's ready line. Phases are the isolator's \
    own (a peer VMM reports fewer). Segment medians need not add up exactly to the median \
    startup written after each bar. When startups differ more than 5×, each bar has its own \
    time scale (the ticks under it).";

/// The segment from the last phase stamp to the ready line.
const UNTIL_READY: &str = "until ready";
/// Startups within this factor of each other share one time axis.
const SHARED_AXIS_SPREAD: f64 = 5.0;
/// Pixels per VM row: the bar and its time axis.
const ROW_HEIGHT: u32 = 60;
/// Above the rows: the title, then the legend lines.
const TITLE_HEIGHT: u32 = 34;
const LEGEND_LINE: u32 = 22;

/// Segment colours, in order of the phases' first appearance (light enough for black text).
const PALETTE: [RGBColor; 12] = [
    RGBColor(114, 158, 206),
    RGBColor(255, 158, 74),
    RGBColor(103, 191, 92),
    RGBColor(237, 102, 93),
    RGBColor(173, 139, 201),
    RGBColor(205, 204, 93),
    RGBColor(109, 204, 218),
    RGBColor(237, 151, 202),
    RGBColor(168, 120, 110),
    RGBColor(152, 223, 138),
    RGBColor(255, 187, 120),
    RGBColor(199, 199, 199),
];
const UNTIL_READY_COLOUR: RGBColor = RGBColor(225, 225, 225);

/// One VM's bar.
struct Bar {
    label: String,
    /// (phase name, median ns), in phase order.
    segments: Vec<(String, f64)>,
    startup_ns: f64,
}

impl Bar {
    fn total(&self) -> f64 {
        self.segments.iter().map(|(_, ns)| ns).sum::<f64>()
    }
}

/// The median of each gap between consecutive phase stamps up to ready, named after the stamp
/// that ends it, in the order the phases were first stamped; zero-length segments left out.
fn segments(isolator: &IsolatorRecord) -> Vec<(String, f64)> {
    let mut gaps: Vec<(String, Vec<f64>)> = Vec::new();
    let mut push = |name: &str, ns: u64| match gaps.iter_mut().find(|(n, _)| n == name) {
        Some((_, values)) => values.push(ns as f64),
        None => gaps.push((name.to_string(), vec![ns as f64])),
    };
    for sample in &isolator.samples {
        let mut previous = 0;
        for phase in sample
            .phases
            .iter()
            .filter(|p| p.at_ns <= sample.startup_ns)
        {
            push(&phase.name, phase.at_ns.saturating_sub(previous));
            previous = previous.max(phase.at_ns);
        }
        if sample.startup_ns > previous {
            push(UNTIL_READY, sample.startup_ns - previous);
        }
    }
    // Whatever the samples' order, the run-up to ready comes last.
    gaps.sort_by_key(|(name, _)| name == UNTIL_READY);
    gaps.into_iter()
        .filter_map(|(name, values)| Some((name, median(&values)?)))
        .filter(|(_, ns)| *ns > 0.0)
        .collect()
}

/// The phase chart as PNG bytes, or why there is nothing to draw.
pub fn render(record: &RunRecord) -> Result<Rendered, ChartError> {
    let bars: Vec<Bar> = record
        .isolators
        .iter()
        .filter(|i| i.kind == Kind::Microvm && i.status.is_available())
        .filter(|i| i.samples.iter().any(|s| !s.phases.is_empty()))
        .map(|i| Bar {
            label: row_label(i),
            segments: segments(i),
            startup_ns: i.summary.as_ref().map_or_else(
                || {
                    let startups: Vec<f64> =
                        i.samples.iter().map(|s| s.startup_ns as f64).collect();
                    median(&startups).unwrap_or(0.0)
                },
                |s| s.startup_ns.median,
            ),
        })
        .filter(|bar| bar.total() > 0.0)
        .collect();
    if bars.is_empty() {
        return Ok(Rendered::NoData(
            "no VM isolator stamped startup phases in this run".into(),
        ));
    }
    let mut entries: Vec<(String, RGBColor)> = Vec::new();
    for (name, _) in bars.iter().flat_map(|b| &b.segments) {
        if !entries.iter().any(|(n, _)| n == name) {
            let colour = match name.as_str() {
                UNTIL_READY => UNTIL_READY_COLOUR,
                _ => PALETTE[entries.len() % PALETTE.len()],
            };
            entries.push((name.clone(), colour));
        }
    }
    // The run-up to ready ends the legend as it ends every bar.
    entries.sort_by_key(|(name, _)| name == UNTIL_READY);
    let legend = legend_lines(&entries, WIDTH - 20);
    let totals = bars.iter().map(Bar::total);
    let (low, high) = totals.fold((f64::INFINITY, 0.0f64), |(lo, hi), t| {
        (lo.min(t), hi.max(t))
    });
    let shared = high / low <= SHARED_AXIS_SPREAD;
    let title = if shared {
        "Startup phases per VM (median segments)"
    } else {
        "Startup phases per VM (median segments; each bar on its own time scale)"
    };
    let height = TITLE_HEIGHT + legend.len() as u32 * LEGEND_LINE + bars.len() as u32 * ROW_HEIGHT;
    let png = draw_png("phases", (WIDTH, height), |root| {
        root.fill(&WHITE)?;
        let titled = root.titled(title, font(18))?;
        let (legend_area, plot) = titled.split_vertically(legend.len() as u32 * LEGEND_LINE + 4);
        draw_legend(&legend_area, &legend)?;
        let colour = |name: &str| {
            entries
                .iter()
                .find(|(n, _)| n == name)
                .map_or(UNTIL_READY_COLOUR, |(_, c)| *c)
        };
        for (bar, area) in bars.iter().zip(plot.split_evenly((bars.len(), 1))) {
            let axis = if shared { high } else { bar.total() };
            draw_bar(root, &area, bar, axis, &colour)?;
        }
        Ok(())
    })?;
    Ok(Rendered::Png(png))
}

/// One bar on an axis running to a bit past `axis_ns`, its name left of it and the median
/// startup (a statistic of its own, not the segments' sum) after it; segments wide enough
/// carry their own duration.
fn draw_bar(
    root: &Area<'_>,
    area: &Area<'_>,
    bar: &Bar,
    axis_ns: f64,
    colour: &dyn Fn(&str) -> RGBColor,
) -> DrawResult {
    let mut chart = ChartBuilder::on(area)
        .margin(4)
        .margin_right(40)
        .x_label_area_size(18)
        .y_label_area_size(150)
        .build_cartesian_2d(0.0..axis_ns * 1.16, 0.0..1.0)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_labels(7)
        .x_label_formatter(&|v| units::duration_tick(*v))
        .x_label_style(font(11))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .draw()?;
    row_labels(root, std::slice::from_ref(&bar.label), |_| {
        chart.backend_coord(&(0.0, 0.5))
    })?;
    let mut start = 0.0;
    for (name, ns) in &bar.segments {
        let end = start + ns;
        chart.draw_series([Rectangle::new(
            [(start, 0.12), (end, 0.88)],
            colour(name).filled(),
        )])?;
        chart.draw_series([Rectangle::new(
            [(start, 0.12), (end, 0.88)],
            WHITE.stroke_width(1),
        )])?;
        let text = units::duration_ns(*ns);
        let room = chart.backend_coord(&(end, 0.5)).0 - chart.backend_coord(&(start, 0.5)).0;
        if room > text_width(&text, 11) as i32 + 6 {
            let style = font(11).pos(Pos::new(HPos::Center, VPos::Center));
            chart.draw_series([Text::new(text, ((start + end) / 2.0, 0.5), style)])?;
        }
        start = end;
    }
    let style = font(12).pos(Pos::new(HPos::Left, VPos::Center));
    chart.draw_series([Text::new(
        format!("startup {}", units::duration_ns(bar.startup_ns)),
        (start + axis_ns * 0.01, 0.5),
        style,
    )])?;
    Ok(())
}

/// The legend entries broken into lines that fit `width` pixels.
fn legend_lines(entries: &[(String, RGBColor)], width: u32) -> Vec<Vec<(String, RGBColor)>> {
    let mut lines: Vec<Vec<(String, RGBColor)>> = vec![Vec::new()];
    let mut used = 0;
    for (label, colour) in entries {
        let needed = 17 + text_width(label, 14) + 22;
        let line = lines.last_mut().expect("one line at least");
        if used + needed > width && !line.is_empty() {
            lines.push(Vec::new());
            used = 0;
        }
        lines
            .last_mut()
            .expect("one line at least")
            .push((label.clone(), *colour));
        used += needed;
    }
    lines
}

fn draw_legend(area: &Area<'_>, lines: &[Vec<(String, RGBColor)>]) -> DrawResult {
    for (index, line) in lines.iter().enumerate() {
        let top = index as i32 * LEGEND_LINE as i32;
        let row = area
            .clone()
            .shrink((0, top), (area.dim_in_pixel().0, LEGEND_LINE));
        super::legend_strip(&row, line)?;
    }
    Ok(())
}

/// The width in pixels of `text` at `size`, as the chart canvas lays it out.
fn text_width(text: &str, size: u32) -> u32 {
    let mut pixel = [255u8; 3];
    let canvas = canvas::Canvas::new(&mut pixel, (1, 1));
    canvas
        .estimate_text_size(text, &font(size))
        .map_or(text.chars().count() as u32 * size / 2, |(width, _)| width)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Phase, Sample};

    fn sample(startup_ns: u64, phases: &[(&str, u64)]) -> Sample {
        Sample {
            startup_ns,
            phases: phases
                .iter()
                .map(|(name, at_ns)| Phase {
                    name: name.to_string(),
                    at_ns: *at_ns,
                })
                .collect(),
            ..Sample::default()
        }
    }

    #[test]
    fn segments_are_medians_of_gaps_up_to_ready() {
        let record: RunRecord =
            serde_json::from_str(include_str!("../../tests/fixtures/old-run.json"))
                .expect("fixture");
        let mut vm = record.isolator("microvm").expect("microvm").clone();
        vm.samples = vec![
            sample(100, &[("exec", 10), ("kernel", 40), ("after-ready", 120)]),
            sample(120, &[("exec", 20), ("kernel", 60)]),
            // A phase this sample did not stamp; the last stamp is ready itself.
            sample(
                90,
                &[("exec", 10), ("init", 30), ("kernel", 50), ("ready", 90)],
            ),
        ];
        assert_eq!(
            segments(&vm),
            [
                ("exec".to_string(), 10.0),
                ("kernel".to_string(), 30.0),
                ("init".to_string(), 20.0),
                ("ready".to_string(), 40.0),
                (UNTIL_READY.to_string(), 60.0),
            ]
        );
    }
}
