//! The CSV rendering: one row per raw sample, units in the column names. The isolator's host
//! cost (medians per instance over its batches, `host_*` and `launch_cpu_ns`) is repeated on
//! each of its rows, like its flags; the batches themselves are in the JSON.
use crate::samples::SampleSource;
use crate::schema::{HostCost, IsolatorRecord, RunRecord};

const COLUMNS: [&str; 31] = [
    "isolator",
    "kind",
    "trial",
    "sequence",
    "startup_ns",
    "teardown_ns",
    "attributed_cpu_ns",
    "pss_bytes",
    "rss_bytes",
    "cgroup_bytes",
    "cgroup_kernel_bytes",
    "kernel_estimate_bytes",
    "kernel_not_measured",
    "guest_ram_resident_bytes",
    "vmm_overhead_bytes",
    "footprint_bytes",
    "memory_overhead_bytes",
    "processes",
    "phases_ns",
    "work_ns",
    "host_batch",
    "host_batches",
    "host_batches_disturbed",
    "launch_cpu_ns",
    "host_used_per_instance_bytes",
    "host_attributed_per_instance_bytes",
    "host_attributed_kernel_per_instance_bytes",
    "host_mem_available_drop_per_instance_bytes",
    "host_overhead_bytes",
    "host_spread_ratio",
    "flags",
];

/// Renders every sample of every isolator; empty cells where a value does not apply.
pub fn render(record: &RunRecord) -> Result<Vec<u8>, csv::Error> {
    let mut bytes = Vec::new();
    write(&mut bytes, record)?;
    Ok(bytes)
}

/// The same rows as [`render`], streamed to `out` (a long run's CSV is not built in memory).
pub fn write(out: &mut dyn std::io::Write, record: &RunRecord) -> Result<(), csv::Error> {
    write_from(out, record, &crate::samples::Inline)
}

/// The rows of [`render`] for the samples of `source` in place of the record's own, streamed.
pub fn write_from(
    out: &mut dyn std::io::Write,
    record: &RunRecord,
    source: &dyn SampleSource,
) -> Result<(), csv::Error> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(COLUMNS)?;
    let opt = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
    for (index, isolator) in record.isolators.iter().enumerate() {
        let host = host_cells(isolator);
        source.for_each(record, index, &mut |s| {
            let phases = s
                .phases
                .iter()
                .map(|p| format!("{}={}", p.name, p.at_ns))
                .collect::<Vec<_>>()
                .join(";");
            let usage = &s.memory.usage;
            let mut row = vec![
                isolator.name.clone(),
                isolator.kind.as_str().to_string(),
                s.trial.to_string(),
                s.sequence.to_string(),
                s.startup_ns.to_string(),
                s.teardown_ns.to_string(),
                opt(s.cpu_ns),
                usage.pss_bytes.to_string(),
                usage.rss_bytes.to_string(),
                opt(usage.cgroup_bytes),
                opt(usage.cgroup_kernel_bytes),
                opt(usage.kernel_estimate_bytes),
                usage.kernel_not_measured.clone().unwrap_or_default(),
                opt(usage.guest_ram_resident_bytes),
                opt(usage.vmm_overhead_bytes),
                s.memory.footprint_bytes.to_string(),
                s.memory_overhead_bytes
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
                usage.processes.to_string(),
                phases,
                s.probe_report
                    .get("work_ns")
                    .unwrap_or_default()
                    .to_string(),
            ];
            row.extend(host.iter().cloned());
            row.push(
                isolator
                    .flags
                    .iter()
                    .map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join(";"),
            );
            writer.write_record(row).map_err(std::io::Error::from)
        })?;
    }
    writer.flush()?;
    Ok(())
}

/// The cells of an isolator from `host_batch` to `host_spread_ratio`; all empty when it has no
/// host cost.
fn host_cells(isolator: &IsolatorRecord) -> Vec<String> {
    let Some(host) = &isolator.host_cost else {
        return vec![String::new(); 10];
    };
    let float = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    let HostCost {
        batch,
        samples,
        per_instance_used_bytes,
        per_instance_attributed_bytes,
        per_instance_attributed_kernel_bytes,
        per_instance_mem_available_drop_bytes,
        launch_cpu_ns,
        overhead_bytes,
        spread,
    } = host;
    let disturbed = samples.iter().filter(|s| s.disturbed.is_some()).count();
    vec![
        batch.to_string(),
        samples.len().to_string(),
        disturbed.to_string(),
        float(*launch_cpu_ns),
        float(*per_instance_used_bytes),
        float(*per_instance_attributed_bytes),
        float(*per_instance_attributed_kernel_bytes),
        float(*per_instance_mem_available_drop_bytes),
        float(*overhead_bytes),
        float(*spread),
    ]
}
