//! The startup-time chart: each isolator's distribution, from launch to the probe's ready line.
use super::{distribution, ChartError, Rendered};
use crate::schema::RunRecord;

pub const CAPTION: &str = "Time from launch until the probe reported ready, every measured trial \
    as a dot. Colour is the isolator's class; * marks isolators whose numbers are flagged (see warnings).";

/// The startup distribution chart as PNG bytes, or why there is nothing to draw.
pub fn render(record: &RunRecord) -> Result<Rendered, ChartError> {
    distribution::render(record, "startup", "Startup time per isolator", |s| {
        s.startup_ns
    })
}
