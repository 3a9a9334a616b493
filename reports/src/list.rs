//! The `isobench list` table: every isolator, its class and kernel, and whether it can run here
//! (with its version) or why not.
use crate::schema::{IsolatorRecord, Status};

/// One line per isolator record (only name, kind, kernel, version and status are read).
pub fn render(isolators: &[IsolatorRecord]) -> String {
    let mut out = format!(
        "{:<18} {:<10} {:<10} status\n",
        "isolator", "class", "kernel"
    );
    for isolator in isolators {
        let status = match &isolator.status {
            Status::Available => format!("available — {}", isolator.version),
            Status::Unavailable { reason } => format!("unavailable: {reason}"),
            failed => failed.reason().unwrap_or_default(),
        };
        out += &format!(
            "{:<18} {:<10} {:<10} {status}\n",
            isolator.name,
            isolator.kind.as_str(),
            isolator.kernel.as_str()
        );
    }
    out
}
