//! The host-cost chart: what one instance cost the whole host (the system-wide `used` growth),
//! as a bar per isolator split into user-space PSS, attributed kernel memory and the remainder
//! nobody's own accounting claimed, in percent of `used` (so a 100 KiB container and a 130 MiB
//! emulated VM read alike); a black mark at 100% where the attributed memory exceeds `used`.
use plotters::prelude::*;

use super::bars::{stacked_bars, Axis, StackedBar};
use super::{draw_png, font, legend_strip, row_centre, ChartError, Rendered, HEIGHT, WIDTH};
use crate::host_cost::{self, HostRow, Origin};
use crate::schema::RunRecord;
use crate::units;

/// The chart's file name in the report directory.
pub const FILE_NAME: &str = "host_cost.png";

pub const CAPTION: &str = "Per instance, system-wide: the growth of the host's memory in use \
    (/proc/meminfo, per-CPU free lists counted free) while a batch of instances was held at once \
    (medians over the undisturbed batches; in a density run, the largest count held) is 100%; \
    each bar splits it into what the instances' own accounting attributed to them — user-space \
    PSS of their anonymous memory and kernel memory charged to their cgroups or estimated — and \
    the unattributed remainder. Where the attributed memory exceeds the growth, the bar runs past \
    a black mark at 100% and its label says by how much.";

const USER: RGBColor = RGBColor(31, 119, 180);
const KERNEL: RGBColor = RGBColor(44, 160, 44);
const UNATTRIBUTED: RGBColor = RGBColor(170, 170, 170);

/// The bar of one row with a full split, and where its `used` mark goes when attributed
/// memory exceeds it.
fn bar(row: &HostRow) -> Option<(StackedBar, Option<f64>)> {
    let (used, user, kernel) = (row.used_bytes?, row.user_bytes?, row.kernel_bytes?);
    let unattributed = row.unattributed_bytes()?;
    let over = row.over_attributed_bytes();
    let held = match &row.origin {
        Origin::Batches { .. } => String::new(),
        Origin::Density { instances, .. } => format!(", {instances} held"),
    };
    let disturbed = match &row.origin {
        Origin::Batches { disturbed, .. } => match disturbed.len() {
            0 => String::new(),
            1 => ", 1 disturbed batch left out".into(),
            n => format!(", {n} disturbed batches left out"),
        },
        Origin::Density { disturbed, .. } => disturbed
            .as_ref()
            .map_or_else(String::new, |_| ", disturbed".into()),
    };
    let excess = over.map_or_else(String::new, |o| {
        format!("; attributed exceeds it by {}", units::bytes(o))
    });
    if used <= 0.0 {
        return None;
    }
    let percent = |bytes: f64| bytes / used * 100.0;
    let bar = StackedBar {
        label: row.label.clone(),
        segments: [(user, USER), (kernel, KERNEL), (unattributed, UNATTRIBUTED)]
            .into_iter()
            .filter(|(bytes, _)| *bytes > 0.0)
            .map(|(bytes, colour)| (percent(bytes), colour))
            .collect(),
        text: format!(
            "used {}; attributed {:.0}%{held}{disturbed}{excess}",
            units::bytes(used),
            percent(user + kernel)
        ),
    };
    Some((bar, over.map(|_| 100.0)))
}

/// The host-cost chart as PNG bytes, or why there is nothing to draw.
pub fn render(record: &RunRecord) -> Result<Rendered, ChartError> {
    let rows = host_cost::rows(record);
    if rows.is_empty() {
        return Ok(Rendered::NoData(
            "no host cost in this run (isobench run --host-batch N or isobench density records it)"
                .into(),
        ));
    }
    let bars: Vec<(StackedBar, Option<f64>)> = rows.iter().filter_map(bar).collect();
    if bars.is_empty() {
        return Ok(Rendered::NoData(
            "every host-cost batch was disturbed by other work on the host".into(),
        ));
    }
    let png = draw_png("host cost", (WIDTH, HEIGHT), |root| {
        root.fill(&WHITE)?;
        let titled = root.titled(
            "Host cost per instance: used, and who it is attributed to",
            font(18),
        )?;
        let (legend, plot) = titled.split_vertically(24);
        legend_strip(
            &legend,
            &[
                ("user-space PSS".to_string(), USER),
                ("attributed kernel".to_string(), KERNEL),
                ("unattributed".to_string(), UNATTRIBUTED),
                ("used, where exceeded".to_string(), BLACK),
            ],
        )?;
        let (stacked, marks): (Vec<StackedBar>, Vec<Option<f64>>) = bars.into_iter().unzip();
        let (mut chart, per_unit) = stacked_bars(root, &plot, &stacked, 1.8, Axis::Percent)?;
        let count = stacked.len();
        for (index, used) in marks.iter().enumerate() {
            let Some(used) = used else { continue };
            let centre = row_centre(index, count);
            chart.draw_series([PathElement::new(
                [
                    (used / per_unit, centre - 0.45),
                    (used / per_unit, centre + 0.45),
                ],
                BLACK.stroke_width(3),
            )])?;
        }
        Ok(())
    })?;
    Ok(Rendered::Png(png))
}
