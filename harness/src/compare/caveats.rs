//! What could make a comparison's verdicts the host's doing rather than the build's.
use reports::{RunRecord, WarningCode};

use super::{Comparison, Verdict};

/// One line per caveat: different hosts or workloads, noisy or interrupted runs, a single run
/// per side, and a bare-process baseline that moved.
pub fn caveats(
    base: &[RunRecord],
    new: &[RunRecord],
    comparisons: &[Comparison],
    noise: f64,
) -> Vec<String> {
    let mut out = Vec::new();
    let host = |r: &RunRecord| {
        format!(
            "{} ({}, {})",
            r.host.hostname, r.host.kernel, r.host.cpu_model
        )
    };
    let mut hosts: Vec<String> = base.iter().chain(new).map(host).collect();
    hosts.sort();
    hosts.dedup();
    if hosts.len() > 1 {
        out.push(format!(
            "the runs come from different hosts: {}; changes may be the machine's",
            hosts.join(" vs ")
        ));
    }
    let workloads = |runs: &[RunRecord]| {
        let mut names: Vec<String> = runs.iter().map(|r| r.config.workload.to_string()).collect();
        names.sort();
        names.dedup();
        names.join(", ")
    };
    let (base_workloads, new_workloads) = (workloads(base), workloads(new));
    if base_workloads != new_workloads || base_workloads.contains(',') {
        out.push(format!(
            "the runs used different workloads (base: {base_workloads}; new: {new_workloads}): startup and work differ by design, not by build"
        ));
    }
    for (side, runs) in [("base", base), ("new", new)] {
        let noisy: Vec<&str> = runs
            .iter()
            .flat_map(|run| &run.warnings)
            .filter(|w| w.code == WarningCode::NoisyHost)
            .map(|w| w.message.as_str())
            .collect();
        if let Some(first) = noisy.first() {
            out.push(format!(
                "{side}: {} of {} runs on a busy host (first: {first})",
                noisy.len().min(runs.len()),
                runs.len()
            ));
        }
        let short = super::density::stopped_short(runs);
        if !short.is_empty() {
            out.push(format!(
                "{side}: density points that stopped short are not compared: {}",
                short.join(", ")
            ));
        }
        let incomplete = runs.iter().filter(|run| !run.complete).count();
        if incomplete > 0 {
            out.push(format!(
                "{side}: {incomplete} of {} runs incomplete (interrupted)",
                runs.len()
            ));
        }
    }
    if base.len() == 1 || new.len() == 1 {
        out.push("one run on a side: the interval covers sample noise within a run, not drift between runs; alternate runs of both builds in a balanced order (A B B A) and pass each side's files comma-separated".into());
    }
    let baseline_moved = comparisons.iter().find(|c| {
        c.isolator == "process" && c.metric == "startup_ns" && c.verdict != Verdict::NoChange
    });
    if let Some(c) = baseline_moved {
        out.push(format!(
            "the bare-process baseline itself moved {:+.1}% (beyond {:.0}% noise): the host changed (load, frequency, kernel) or the probe did; other isolators' changes of that size may be the same cause",
            c.change * 100.0,
            noise * 100.0
        ));
    }
    out
}
