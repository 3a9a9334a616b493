//! Host cost in `isobench run`: how large a batch each isolator holds, and the per-instance
//! medians, spread and process-baseline overhead of its batches (pure functions of the record).
use std::time::Duration;

use reports::{HostCost, HostCostSample, IsolatorRecord, RunRecord};

use crate::stats::summarize;

/// Batches whose per-instance `used` growth spreads wider than this ((max − min) / median) are
/// flagged `host-cost-noisy`.
pub const NOISY_SPREAD: f64 = 0.25;

/// The smallest batch worth holding: below it one instance's noise is the figure.
pub const MIN_BATCH: u32 = 5;

/// What `isobench run` asks for: `batch` instances held at once, `repeats` times per isolator,
/// the repeats interleaved across isolators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostCostPlan {
    pub batch: u32,
    pub repeats: u32,
}

/// How many instances this isolator holds per batch: `plan.batch`, fewer when holding that many
/// would take longer than `budget` over all repeats (from its trials' launch and teardown
/// times) or more than half of MemAvailable (from its footprint); never below [`MIN_BATCH`].
/// Returns the count and, when it is smaller than asked, why.
pub fn batch_for(
    isolator: &IsolatorRecord,
    plan: HostCostPlan,
    budget: Option<Duration>,
    mem_available_bytes: u64,
) -> (u32, Option<String>) {
    let Some(summary) = &isolator.summary else {
        return (plan.batch, None);
    };
    let per_instance_s = (summary.startup_ns.median + summary.teardown_ns.median) / 1e9;
    let mut batch = plan.batch;
    let mut why = None;
    if let Some(budget) = budget {
        let fits = (budget.as_secs_f64() / (per_instance_s * f64::from(plan.repeats.max(1))))
            .floor() as u32;
        if fits < batch {
            batch = fits.max(MIN_BATCH);
            why = Some(format!(
                "host cost held batches of {batch}, not {}: at {per_instance_s:.2} s a launch, more would not fit its {:.0} s host-cost budget (half of --budget)",
                plan.batch,
                budget.as_secs_f64()
            ));
        }
    }
    let per_instance_bytes = summary.footprint_bytes.median.max(1.0);
    let fits = (mem_available_bytes as f64 / 2.0 / per_instance_bytes).floor() as u32;
    if fits < batch {
        batch = fits.max(1);
        why = Some(format!(
            "host cost held batches of {batch}, not {}: more would take over half of MemAvailable",
            plan.batch
        ));
    }
    (batch, why)
}

/// Why an isolator that held `done` batches in `spent` should hold no more: another batch as
/// long as its average would end past `budget` (its host-cost share of `--budget`). The
/// batch size comes from the trials' launch and teardown times; this rule uses the time the
/// batches really took, settling included, which is longer where instances launched at once
/// slow each other down (an emulated VM, a daemon-based engine). None while another fits, and
/// always for the first batch.
pub fn out_of_time(budget: Option<Duration>, spent: Duration, done: u32) -> Option<String> {
    let budget = budget?;
    if done == 0 {
        return None;
    }
    let per_batch = spent / done;
    (spent + per_batch > budget).then(|| {
        format!(
            "its {:.0} s host-cost budget (half of --budget) would run out: a batch took {:.1} s (--budget 0 lifts it)",
            budget.as_secs_f64(),
            per_batch.as_secs_f64()
        )
    })
}

/// The medians over the undisturbed batches of `samples`, per instance.
pub fn summarize_batches(batch: u32, samples: Vec<HostCostSample>) -> HostCost {
    let clean: Vec<&HostCostSample> = samples
        .iter()
        .filter(|s| s.disturbed.is_none() && s.instances > 0)
        .collect();
    let median = |f: &dyn Fn(&HostCostSample) -> Option<f64>| {
        summarize(&clean.iter().filter_map(|s| f(s)).collect::<Vec<_>>()).map(|s| s.median)
    };
    let per = |bytes: u64, s: &HostCostSample| Some(bytes as f64 / f64::from(s.instances));
    let used: Vec<f64> = clean
        .iter()
        .filter_map(|s| s.per_instance_used_bytes())
        .collect();
    let spread = summarize(&used).and_then(|s| {
        (s.median.abs() > 0.0 && used.len() > 1).then(|| (s.max - s.min) / s.median.abs())
    });
    HostCost {
        batch,
        per_instance_used_bytes: median(&|s| s.per_instance_used_bytes()),
        per_instance_attributed_bytes: median(&|s| s.per_instance_attributed_bytes()),
        per_instance_attributed_kernel_bytes: median(&|s| per(s.attributed_kernel_bytes, s)),
        per_instance_mem_available_drop_bytes: median(&|s| {
            Some(s.mem_available_drop_bytes as f64 / f64::from(s.instances))
        }),
        launch_cpu_ns: median(&|s| s.per_instance_cpu_ns()),
        overhead_bytes: None,
        spread,
        samples,
    }
}

/// Recomputes every isolator's host-cost medians and its overhead over the process baseline's
/// per-instance `used` growth in the same run.
pub fn finish(record: &mut RunRecord) {
    for isolator in &mut record.isolators {
        if let Some(cost) = isolator.host_cost.take() {
            isolator.host_cost = Some(summarize_batches(cost.batch, cost.samples));
        }
    }
    let baseline = record
        .isolator("process")
        .and_then(|p| p.host_cost.as_ref())
        .and_then(|c| c.per_instance_used_bytes);
    for isolator in &mut record.isolators {
        if let Some(cost) = isolator.host_cost.as_mut() {
            cost.overhead_bytes = baseline
                .zip(cost.per_instance_used_bytes)
                .map(|(b, u)| u - b);
        }
    }
}

/// Whether an isolator's host cost is uncertain: a disturbed batch, or repeats that disagree.
pub fn is_noisy(cost: &HostCost) -> bool {
    cost.samples.iter().any(|s| s.disturbed.is_some())
        || cost.spread.is_some_and(|s| s > NOISY_SPREAD)
        || (!cost.samples.is_empty() && cost.per_instance_used_bytes.is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(instances: u32, used_mib: f64, disturbed: bool) -> HostCostSample {
        HostCostSample {
            instances,
            used_growth_bytes: (used_mib * 1048576.0) as i64,
            attributed_user_bytes: u64::from(instances) * 65536,
            attributed_kernel_bytes: u64::from(instances) * 32768,
            cpu_ns: Some(i64::from(instances) * 500_000),
            disturbed: disturbed.then(|| "moved".into()),
            ..Default::default()
        }
    }

    #[test]
    fn medians_skip_disturbed_batches_and_spread_flags_disagreement() {
        let cost = summarize_batches(
            20,
            vec![
                batch(20, 2.0, false),
                batch(20, 2.2, false),
                batch(20, 90.0, true),
            ],
        );
        let used = cost.per_instance_used_bytes.unwrap();
        assert!((used - 0.105 * 1048576.0).abs() < 1.0, "{used}");
        assert_eq!(cost.launch_cpu_ns, Some(500_000.0));
        assert_eq!(cost.per_instance_attributed_bytes, Some(98304.0));
        assert!(is_noisy(&cost), "a disturbed batch makes it noisy");
        let calm = summarize_batches(20, vec![batch(20, 2.0, false), batch(20, 2.1, false)]);
        assert!(!is_noisy(&calm));
        let wild = summarize_batches(20, vec![batch(20, 2.0, false), batch(20, 4.0, false)]);
        assert!(is_noisy(&wild), "spread {:?}", wild.spread);
    }

    #[test]
    fn batches_stop_when_the_next_would_pass_the_budget() {
        let budget = Some(Duration::from_secs(15));
        assert_eq!(out_of_time(budget, Duration::ZERO, 0), None);
        // One 12.5 s batch of an emulated VM: a second would end at 25 s.
        let why = out_of_time(budget, Duration::from_millis(12_500), 1).unwrap();
        assert!(why.contains("a batch took 12.5 s"), "{why}");
        // Two 3 s batches: a third ends at 9 s, within 15 s.
        assert_eq!(out_of_time(budget, Duration::from_secs(6), 2), None);
        assert_eq!(out_of_time(None, Duration::from_secs(600), 1), None);
        // Even a very slow first batch is held: one figure beats none.
        assert_eq!(out_of_time(budget, Duration::ZERO, 0), None);
    }

    #[test]
    fn every_batch_disturbed_gives_no_figure_but_a_flag() {
        let cost = summarize_batches(20, vec![batch(20, 2.0, true)]);
        assert_eq!(cost.per_instance_used_bytes, None);
        assert!(is_noisy(&cost));
    }
}
