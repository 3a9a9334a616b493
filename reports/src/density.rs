//! The `isobench density` table on the terminal, printed a line at a time as each point is
//! measured: the header, one row per density point, and a line for an isolator not measured.
use crate::schema::{DensityPoint, Status};

const MIB: f64 = 1024.0 * 1024.0;

/// The column titles.
pub fn header() -> String {
    format!(
        "{:<14} {:>9} {:>8} {:>12} {:>10} {:>14} {:>16} {:>11}  notes\n",
        "isolator",
        "instances",
        "reached",
        "all ready",
        "launch/s",
        "per instance",
        "MemAvail drop/i",
        "teardown"
    )
}

/// One measured point: counts, times, memory per instance, why it stopped, what it left.
pub fn row(point: &DensityPoint) -> String {
    format!(
        "{:<14} {:>9} {:>8} {:>10.1}ms {:>10.1} {:>11.2} MiB {:>12.2} MiB {:>9.1}ms  {}{}\n",
        point.isolator,
        point.requested,
        point.reached,
        point.all_ready_ns as f64 / 1e6,
        point.launches_per_second,
        point.per_instance_footprint_bytes as f64 / MIB,
        point.per_instance_mem_available_drop_bytes as f64 / MIB,
        point.teardown_ns as f64 / 1e6,
        point
            .stopped_because
            .as_deref()
            .map(|s| format!("stopped: {s} "))
            .unwrap_or_default(),
        if point.leftovers.is_empty() {
            String::new()
        } else {
            format!("LEFTOVERS: {}", point.leftovers.join("; "))
        },
    )
}

/// The line for an isolator that was not measured (unavailable, or failed to prepare); None
/// when it is available.
pub fn not_measured(isolator: &str, status: &Status) -> Option<String> {
    let why = match status {
        Status::Available => return None,
        Status::Unavailable { reason } => format!("unavailable: {reason}"),
        Status::PrepareFailed { .. } => status.reason()?,
    };
    Some(format!("{isolator:<14} {why}\n"))
}
