//! Builders of VM rows for the tier tests, shaped like the fixture's own.
use reports::schema::*;

use super::{record, word};

/// A measured VM row for tier tests: a copy of the fixture's `microvm` renamed, running
/// `guest`, with `flags` ("emulated" also sets the emulated field) and every startup scaled so
/// the median is `startup_ms`.
pub fn vm_row(
    record: &RunRecord,
    name: &str,
    guest: GuestKind,
    flags: &[&str],
    startup_ms: f64,
) -> IsolatorRecord {
    let mut vm = record.isolator("microvm").expect("fixture microvm").clone();
    vm.name = name.into();
    vm.guest = Some(guest);
    vm.flags = flags.iter().map(|f| word(f)).collect();
    vm.emulated = vm.flags.contains(&Flag::Emulated);
    vm.boundary = match guest {
        GuestKind::Linux => format!("own guest kernel + virtualization ({name})"),
        _ => format!("own guest (bare PVH code, no OS) ({name})"),
    };
    let summary = vm.summary.as_mut().expect("fixture microvm is measured");
    let scale = startup_ms * 1e6 / summary.startup_ns.median;
    for sample in &mut vm.samples {
        sample.startup_ns = (sample.startup_ns as f64 * scale) as u64;
    }
    summary.startup_ns.median = startup_ms * 1e6;
    vm
}

/// The fixture with its VM rows replaced by `vms`.
pub fn with_vms(runs: u32, vms: impl Fn(&RunRecord) -> Vec<IsolatorRecord>) -> RunRecord {
    let mut record = record(runs, false);
    let vms = vms(&record);
    record.isolators.retain(|i| i.kind != Kind::Microvm);
    record.isolators.extend(vms);
    record
}
