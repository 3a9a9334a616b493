//! The CSV rendering: one row per raw sample, units in the column names.
use crate::schema::RunRecord;

const COLUMNS: [&str; 18] = [
    "isolator",
    "kind",
    "trial",
    "sequence",
    "startup_ns",
    "teardown_ns",
    "pss_bytes",
    "rss_bytes",
    "cgroup_bytes",
    "cgroup_kernel_bytes",
    "guest_ram_resident_bytes",
    "vmm_overhead_bytes",
    "footprint_bytes",
    "memory_overhead_bytes",
    "processes",
    "phases_ns",
    "work_ns",
    "flags",
];

/// Renders every sample of every isolator; empty cells where a value does not apply.
pub fn render(record: &RunRecord) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(COLUMNS)?;
    let opt = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
    for isolator in &record.isolators {
        for s in &isolator.samples {
            let phases = s
                .phases
                .iter()
                .map(|p| format!("{}={}", p.name, p.at_ns))
                .collect::<Vec<_>>()
                .join(";");
            writer.write_record([
                isolator.name.clone(),
                isolator.kind.as_str().to_string(),
                s.trial.to_string(),
                s.sequence.to_string(),
                s.startup_ns.to_string(),
                s.teardown_ns.to_string(),
                s.memory.usage.pss_bytes.to_string(),
                s.memory.usage.rss_bytes.to_string(),
                opt(s.memory.usage.cgroup_bytes),
                opt(s.memory.usage.cgroup_kernel_bytes),
                opt(s.memory.usage.guest_ram_resident_bytes),
                opt(s.memory.usage.vmm_overhead_bytes),
                s.memory.footprint_bytes.to_string(),
                s.memory_overhead_bytes
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
                s.memory.usage.processes.to_string(),
                phases,
                s.probe_report.get("work_ns").cloned().unwrap_or_default(),
                isolator
                    .flags
                    .iter()
                    .map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join(";"),
            ])?;
        }
    }
    writer
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))
}
