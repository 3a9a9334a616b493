//! Warm starts against their cold rows: for each restored VM row (`warm_start`), its startup
//! median as a ratio of the cold boot of the same guest measured in the same run (the row whose
//! name it extends: `microvm-restore` and `microvm-restore-prestarted` against `microvm`,
//! `firecracker-restore` against `firecracker`). A pure function of the record.
use crate::schema::RunRecord;
use crate::units;

/// The name of the cold row a warm-start row is measured against: its name up to `-restore`.
pub fn cold_row_name(warm: &str) -> Option<&str> {
    warm.find("-restore").map(|at| &warm[..at])
}

/// One line for the run, when it has warm-start rows with startup figures:
/// `warm/cold startup, same run: microvm-restore 1.43 ms = 0.53× microvm (2.70 ms); …`.
pub fn ratio_line(record: &RunRecord) -> Option<String> {
    let startup = |name: &str| {
        let isolator = record.isolator(name)?;
        Some(isolator.summary.as_ref()?.startup_ns.median)
    };
    let parts: Vec<String> = (record.isolators.iter())
        .filter(|i| i.warm_start)
        .filter_map(|warm| {
            let warm_ns = warm.summary.as_ref()?.startup_ns.median;
            let cold = cold_row_name(&warm.name)?;
            Some(match startup(cold).filter(|&ns| ns > 0.0) {
                Some(cold_ns) => format!(
                    "{} {} = {:.2}× {cold} ({})",
                    warm.name,
                    units::duration_ns(warm_ns),
                    warm_ns / cold_ns,
                    units::duration_ns(cold_ns)
                ),
                None => format!(
                    "{} {} (no {cold} row in this run)",
                    warm.name,
                    units::duration_ns(warm_ns)
                ),
            })
        })
        .collect();
    (!parts.is_empty()).then(|| {
        format!(
            "warm starts, startup median against the cold boot of the same guest in this run: {}",
            parts.join("; ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_warm_row_has_its_cold_row() {
        assert_eq!(cold_row_name("microvm-restore"), Some("microvm"));
        assert_eq!(cold_row_name("microvm-restore-prestarted"), Some("microvm"));
        assert_eq!(
            cold_row_name("microvm-linux-restore"),
            Some("microvm-linux")
        );
        assert_eq!(cold_row_name("firecracker-restore"), Some("firecracker"));
        assert_eq!(cold_row_name("microvm"), None);
    }
}
