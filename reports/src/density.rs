//! The `isobench density` table on the terminal, printed a line at a time as each point is
//! measured: the header, one row per density point, and a line for an isolator not measured.
//! Where a point has host figures (system-wide, from /proc/meminfo and the host's CPU time) they
//! sit beside the attributed ones; a point the host disturbed is marked `!`, why in the notes.
use crate::schema::{DensityPoint, HostCostSample, Status};
use crate::units;

const MIB: f64 = 1024.0 * 1024.0;

/// Appended to the host `used` figure of a point whose host figures were disturbed.
pub const DISTURBED_MARKER: char = '!';

/// The column titles.
pub fn header() -> String {
    format!(
        "{:<14} {:>9} {:>8} {:>12} {:>10} {:>14} {:>16} {:>14} {:>13} {:>11} {:>11}  notes\n",
        "isolator",
        "instances",
        "reached",
        "all ready",
        "launch/s",
        "per instance",
        "MemAvail drop/i",
        "host used/i",
        "host attrib/i",
        "CPU/launch",
        "teardown"
    )
}

/// One measured point: counts, times, memory per instance (attributed, then the host's where
/// measured), CPU per launch, why it stopped, what it left.
pub fn row(point: &DensityPoint) -> String {
    let host = point.host.as_ref();
    let disturbed = host.and_then(|h| h.disturbed.as_deref());
    let mib =
        |value: Option<f64>| value.map_or_else(|| "—".into(), |v| format!("{:.2} MiB", v / MIB));
    let used = format!(
        "{}{}",
        mib(host.and_then(HostCostSample::per_instance_used_bytes)),
        if disturbed.is_some() {
            DISTURBED_MARKER
        } else {
            ' '
        }
    );
    let cpu = host
        .and_then(HostCostSample::per_instance_cpu_ns)
        .map_or_else(|| "—".into(), units::duration_ns);
    format!(
        "{:<14} {:>9} {:>8} {:>10.1}ms {:>10.1} {:>11.2} MiB {:>12.2} MiB {:>14} {:>13} {:>11} {:>9.1}ms  {}{}{}\n",
        point.isolator,
        point.requested,
        point.reached,
        point.all_ready_ns as f64 / 1e6,
        point.launches_per_second,
        point.per_instance_footprint_bytes as f64 / MIB,
        point.per_instance_mem_available_drop_bytes as f64 / MIB,
        used,
        mib(host.and_then(HostCostSample::per_instance_attributed_bytes)),
        cpu,
        point.teardown_ns as f64 / 1e6,
        point
            .stopped_because
            .as_deref()
            .map(|s| format!("stopped: {s} "))
            .unwrap_or_default(),
        disturbed
            .map(|why| format!("{DISTURBED_MARKER} host disturbed: {why} "))
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
