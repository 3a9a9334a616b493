//! The phase table (`isobench run --phases`): per isolator, the median time from launch to each
//! phase it reports, and the step from the phase before, so that a reader sees where startup
//! goes. A pure function of the record.
use std::fmt::Write;

use crate::schema::RunRecord;
use crate::units;

/// One line per isolator with phases: `name  phase +step (at) …  → ready median`.
pub fn render(record: &RunRecord) -> String {
    let mut out = String::from(
        "Phases: median time since launch at each phase, with the step from the phase before:\n",
    );
    let mut any = false;
    for isolator in &record.isolators {
        let Some(summary) = &isolator.summary else {
            continue;
        };
        let mut phases: Vec<(&str, f64)> = summary
            .phase_medians_ns
            .iter()
            .map(|(name, &at)| (name.as_str(), at))
            .collect();
        if phases.is_empty() {
            continue;
        }
        any = true;
        phases.sort_by(|a, b| a.1.total_cmp(&b.1));
        let _ = write!(out, "  {:<22}", isolator.name);
        let mut previous = 0.0;
        for (name, at) in phases {
            let _ = write!(
                out,
                " {name} +{} ({})",
                units::duration_ns(at - previous),
                units::duration_ns(at)
            );
            previous = at;
        }
        let _ = writeln!(
            out,
            "  → ready {}",
            units::duration_ns(summary.startup_ns.median)
        );
    }
    if !any {
        out.push_str("  no isolator in this run reports phases\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{IsolatorRecord, IsolatorSummary};

    fn with_phases(name: &str, phases: &[(&str, f64)], ready_ns: f64) -> IsolatorRecord {
        let mut record: IsolatorRecord = serde_json::from_value(serde_json::json!({
            "name": name, "kind": "container", "kernel": "shared", "boundary": "", "version": "",
            "disk": null, "samples": [], "summary": null, "unavailable_reason": null
        }))
        .unwrap();
        let summary = |median: f64| {
            serde_json::from_value(serde_json::json!({
                "n": 1, "min": median, "median": median, "mean": median, "stddev": 0.0,
                "p95": median, "max": median, "median_ci_low": median,
                "median_ci_high": median, "outliers": [], "coefficient_of_variation": 0.0
            }))
            .unwrap()
        };
        record.summary = Some(IsolatorSummary {
            startup_ns: summary(ready_ns),
            teardown_ns: summary(1.0),
            footprint_bytes: summary(1.0),
            memory_overhead_bytes: None,
            vmm_overhead_bytes: None,
            cpu_ns: None,
            phase_medians_ns: phases.iter().map(|&(n, at)| (n.to_string(), at)).collect(),
        });
        record
    }

    #[test]
    fn lists_phases_in_time_order_with_their_steps() {
        let mut record: RunRecord =
            serde_json::from_str(include_str!("../tests/fixtures/old-run.json")).unwrap();
        record.isolators = vec![with_phases(
            "container",
            &[
                ("mounts", 990_000.0),
                ("cgroup", 145_000.0),
                ("exec", 1_370_000.0),
            ],
            1_400_000.0,
        )];
        let text = render(&record);
        let line = text.lines().find(|l| l.contains("container")).unwrap();
        let (cgroup, mounts, exec) = (
            line.find("cgroup +145 µs (145 µs)").unwrap(),
            line.find("mounts +845 µs (990 µs)").unwrap(),
            line.find("exec +380 µs (1.37 ms)").unwrap(),
        );
        assert!(cgroup < mounts && mounts < exec, "{line}");
        assert!(line.ends_with("→ ready 1.40 ms"), "{line}");
    }

    #[test]
    fn says_so_when_nothing_reports_phases() {
        let mut record: RunRecord =
            serde_json::from_str(include_str!("../tests/fixtures/old-run.json")).unwrap();
        record.isolators = vec![with_phases("unshare", &[], 1.0)];
        assert!(render(&record).contains("no isolator in this run reports phases"));
    }
}
