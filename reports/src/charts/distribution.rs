//! The distribution chart shared by startup and teardown: a box plot per isolator over its raw
//! samples drawn as jittered points, on a log axis when the values spread more than 20×.
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::{
    draw_png, font, kind_colour, legend_strip, quantile, row_centre, row_label, row_labels, Area,
    ChartError, DrawResult, Rendered, HEIGHT, WIDTH,
};
use crate::schema::{Kind, RunRecord, Sample};
use crate::units;

/// Values spreading more than this factor (max / min) get a log axis.
const LOG_SPREAD: f64 = 20.0;

/// One isolator's row.
struct Row {
    label: String,
    colour: RGBColor,
    values_ns: Vec<f64>,
}

/// Draws `metric` of every isolator with samples; NoData when none has any.
pub(crate) fn render(
    record: &RunRecord,
    chart: &'static str,
    title: &str,
    metric: fn(&Sample) -> u64,
) -> Result<Rendered, ChartError> {
    let rows: Vec<Row> = record
        .isolators
        .iter()
        .filter(|i| i.status.is_available() && !i.samples.is_empty())
        .map(|i| Row {
            label: row_label(i),
            colour: kind_colour(i.kind),
            values_ns: i.samples.iter().map(|s| metric(s) as f64).collect(),
        })
        .collect();
    if rows.is_empty() {
        return Ok(Rendered::NoData(
            "no isolator has measured samples in this run".into(),
        ));
    }
    let all = rows.iter().flat_map(|r| r.values_ns.iter().copied());
    let low = all
        .clone()
        .filter(|v| *v > 0.0)
        .fold(f64::INFINITY, f64::min);
    let high = all.fold(0.0f64, f64::max);
    let log = low.is_finite() && high / low > LOG_SPREAD;
    let mut kinds: Vec<(Kind, RGBColor)> = Vec::new();
    for isolator in record.isolators.iter().filter(|i| !i.samples.is_empty()) {
        if !kinds.iter().any(|(k, _)| *k == isolator.kind) {
            kinds.push((isolator.kind, kind_colour(isolator.kind)));
        }
    }
    let axis_note = if log { " (log scale)" } else { "" };
    let title = format!("{title}{axis_note}");
    let png = draw_png(chart, (WIDTH, HEIGHT), |root| {
        if log {
            let (from, to) = (low / 1.4, high * 1.4);
            let x = (from..to).log_scale().with_key_points(log_ticks(from, to));
            paint(root, x, &rows, &title, &kinds)
        } else {
            let pad = (high - low).max(high * 0.05) * 0.08;
            let x: RangedCoordf64 = ((low - pad).max(0.0)..high + pad).into();
            paint(root, x, &rows, &title, &kinds)
        }
    })?;
    Ok(Rendered::Png(png))
}

fn paint<X>(
    root: &Area<'_>,
    x: X,
    rows: &[Row],
    title: &str,
    kinds: &[(Kind, RGBColor)],
) -> DrawResult
where
    X: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
{
    root.fill(&WHITE)?;
    let titled = root.titled(title, font(18))?;
    let (legend, plot) = titled.split_vertically(24);
    let mut legend_entries: Vec<(String, RGBColor)> = kinds
        .iter()
        .map(|(kind, colour)| (kind.as_str().to_string(), *colour))
        .collect();
    legend_entries.push((
        "box: quartiles, line: median, whiskers: min–max".into(),
        WHITE,
    ));
    legend_strip(&legend, &legend_entries)?;
    let count = rows.len();
    let mut chart = ChartBuilder::on(&plot)
        .margin(8)
        .margin_right(40)
        .x_label_area_size(34)
        .y_label_area_size(150)
        .build_cartesian_2d(x, -0.5..count as f64 - 0.5)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_labels(8)
        .x_label_formatter(&|v| units::duration_tick(*v))
        .x_label_style(font(12))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.12))
        .draw()?;
    let labels: Vec<String> = rows.iter().map(|r| r.label.clone()).collect();
    let left = chart.x_range().start;
    row_labels(root, &labels, |y| chart.backend_coord(&(left, y)))?;
    for (index, row) in rows.iter().enumerate() {
        let centre = row_centre(index, count);
        draw_box(&mut chart, row, centre)?;
    }
    Ok(())
}

fn draw_box<DB, X>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<X, RangedCoordf64>>,
    row: &Row,
    centre: f64,
) -> DrawResult
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
    X: Ranged<ValueType = f64>,
{
    let q = |p| quantile(&row.values_ns, p).unwrap_or(0.0);
    let (min, q1, med, q3, max) = (q(0.0), q(0.25), q(0.5), q(0.75), q(1.0));
    let half = 0.3;
    let colour = row.colour;
    chart.draw_series([
        PathElement::new(vec![(min, centre), (q1, centre)], colour.stroke_width(1)),
        PathElement::new(vec![(q3, centre), (max, centre)], colour.stroke_width(1)),
        PathElement::new(
            vec![(min, centre - half / 2.0), (min, centre + half / 2.0)],
            colour.stroke_width(1),
        ),
        PathElement::new(
            vec![(max, centre - half / 2.0), (max, centre + half / 2.0)],
            colour.stroke_width(1),
        ),
    ])?;
    chart.draw_series([
        Rectangle::new(
            [(q1, centre - half), (q3, centre + half)],
            colour.mix(0.18).filled(),
        ),
        Rectangle::new(
            [(q1, centre - half), (q3, centre + half)],
            colour.stroke_width(1),
        ),
    ])?;
    chart.draw_series(row.values_ns.iter().enumerate().map(|(i, &v)| {
        Circle::new(
            (v, centre + jitter(i) * half * 1.6),
            2,
            colour.mix(0.55).filled(),
        )
    }))?;
    chart.draw_series([PathElement::new(
        vec![(med, centre - half), (med, centre + half)],
        BLACK.stroke_width(3),
    )])?;
    Ok(())
}

/// Tick values for a log axis over `from..to`: 1, 2 and 5 times each power of ten when the
/// axis spans under three decades (plotters alone would label only the powers of ten), the
/// powers of ten alone otherwise.
fn log_ticks(from: f64, to: f64) -> Vec<f64> {
    if !(from > 0.0 && to > from) {
        return Vec::new();
    }
    let steps: &[f64] = if (to / from).log10() < 3.0 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0]
    };
    let mut ticks = Vec::new();
    let mut power = 10f64.powf(from.log10().floor());
    while power <= to {
        ticks.extend(
            steps
                .iter()
                .map(|s| s * power)
                .filter(|v| (from..=to).contains(v)),
        );
        power *= 10.0;
    }
    ticks
}

/// A deterministic spread in -0.5..0.5 for sample `index` (golden-ratio sequence).
fn jitter(index: usize) -> f64 {
    ((index as f64 + 1.0) * 0.618_033_988_749_895).fract() - 0.5
}

#[cfg(test)]
mod tests {
    use super::log_ticks;

    #[test]
    fn log_ticks_add_twos_and_fives_on_short_axes() {
        assert_eq!(log_ticks(3e5, 2.5e7), [5e5, 1e6, 2e6, 5e6, 1e7, 2e7]);
        assert_eq!(log_ticks(3e5, 8e8), [1e6, 1e7, 1e8]);
        assert!(log_ticks(0.0, 1.0).is_empty());
    }
}
