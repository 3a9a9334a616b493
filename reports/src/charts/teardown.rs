//! The teardown-time chart: each isolator's distribution, from release until the instance was gone.
use super::{distribution, ChartError, Rendered};
use crate::schema::RunRecord;

pub const CAPTION: &str = "Time from releasing the instance until it and its resources were gone, \
    every measured trial as a dot. Colour is the isolator's class; * marks flagged isolators.";

/// The teardown distribution chart as PNG bytes, or why there is nothing to draw.
pub fn render(record: &RunRecord) -> Result<Rendered, ChartError> {
    distribution::render(record, "teardown", "Teardown time per isolator", |s| {
        s.teardown_ns
    })
}
