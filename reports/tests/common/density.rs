//! The fixture's density points (FIXTURE numbers, not measurements): every point has host
//! figures, and microvm's 16 was disturbed by other work on the host.
use reports::schema::{DensityPoint, HostCostSample};

use super::host;
use super::MIB;

/// Why microvm's point of 16 is disturbed.
pub const MICROVM_DISTURBED: &str = "MemAvailable did not come back within 2 MiB after teardown";

/// Host figures of `reached` instances, each costing `used` system-wide, `pss` user-space and
/// `kernel` attributed kernel memory, and `cpu_ns` per launch.
fn host(reached: u32, used: f64, pss: f64, kernel: f64, cpu_ns: f64) -> HostCostSample {
    host::sample((used, pss, kernel, cpu_ns), reached, 1.0, None)
}

pub fn density() -> Vec<DensityPoint> {
    let point = |isolator: &str,
                 requested: u32,
                 reached: u32,
                 all_ready_ns: u64,
                 per_instance: u64,
                 stopped: Option<&str>| DensityPoint {
        isolator: isolator.into(),
        requested,
        reached,
        parallel: 2,
        all_ready_ns,
        launches_per_second: reached as f64 / (all_ready_ns as f64 / 1e9),
        total_footprint_bytes: per_instance * reached as u64,
        per_instance_footprint_bytes: per_instance,
        mem_available_drop_bytes: (per_instance * reached as u64) as i64 + 3 * MIB as i64,
        per_instance_mem_available_drop_bytes: per_instance as i64 + 40 * 1024,
        teardown_ns: reached as u64 * 2_000_000,
        stopped_because: stopped.map(String::from),
        leftovers: vec![],
        host: {
            let pss = per_instance as f64 * 0.45;
            let kernel = per_instance as f64 * 0.5;
            let used = per_instance as f64 * 1.8;
            let cpu_ns = all_ready_ns as f64 / reached as f64 * 1.6;
            Some(host(reached, used, pss, kernel, cpu_ns))
        },
    };
    let mut points = vec![
        point("container", 1, 1, 2_400_000, 340 * 1024, None),
        point("container", 16, 16, 30_000_000, 310 * 1024, None),
        point("container", 64, 64, 118_000_000, 300 * 1024, None),
        point("container", 256, 256, 520_000_000, 296 * 1024, None),
        point("microvm", 1, 1, 98_000_000, 14 * MIB, None),
        point("microvm", 16, 16, 900_000_000, 13 * MIB, None),
        point(
            "microvm",
            64,
            41,
            2_900_000_000,
            13 * MIB,
            Some("KVM_CREATE_VM failed: Cannot allocate memory"),
        ),
    ];
    let disturbed = points[5].host.as_mut().expect("host figures");
    disturbed.disturbed = Some(MICROVM_DISTURBED.into());
    points
}
