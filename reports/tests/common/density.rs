//! The fixture's density points (FIXTURE numbers, not measurements).
use reports::schema::DensityPoint;

use super::MIB;

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
        host: None,
    };
    vec![
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
    ]
}
