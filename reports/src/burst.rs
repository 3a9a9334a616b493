//! The `isobench burst` table: one row per point (isolator × load) with the latency quantiles
//! and their confidence intervals, the achieved rate, failures and teardown lag, printed a row
//! at a time as points finish; then per isolator the tail against its unloaded median.
use crate::schema::{BurstLoad, BurstPoint, QuantileEstimate, RunRecord};
use crate::units::duration_ns;

/// What a burst point means, in one sentence for every report.
pub const EXPLAINED: &str = "Each launch's latency is launch → the probe's ready signal; in an open loop it counts from when the launch was due on the schedule, so a launch waiting for a free worker (start lag) is late by that much. Quantiles are type 7 with 95% intervals from order statistics (exact binomial), \"—\" where too few launches exist to bound them (p99 needs 368, p99.9 3 688). Achieved rate: launches ready per second from the first start to the last ready. Teardown: release → gone per launch; cgroups: how long until the host's count of live and dying cgroups was back where it stood before the point.";

/// The columns, also of the Markdown and HTML tables.
pub const HEADER: [&str; 12] = [
    "isolator",
    "load",
    "n",
    "p50 [95% CI]",
    "p90",
    "p99 [95% CI]",
    "p99.9",
    "achieved/s",
    "failed",
    "teardown p50 / p99",
    "cgroups settled",
    "notes",
];

/// Columns holding numbers (right-aligned).
pub const NUMERIC: std::ops::Range<usize> = 2..11;

/// Column widths of the terminal table.
const WIDTHS: [usize; 11] = [14, 16, 5, 28, 9, 28, 9, 10, 6, 20, 15];

/// The terminal table's header line.
pub fn header() -> String {
    line(&HEADER.map(String::from))
}

/// One point as a terminal line.
pub fn row(point: &BurstPoint) -> String {
    line(&cells(point))
}

fn line(cells: &[String]) -> String {
    let mut out = String::new();
    for (index, cell) in cells.iter().enumerate() {
        match WIDTHS.get(index) {
            Some(&width) if index < 2 => out += &format!("{cell:<width$} "),
            Some(&width) => out += &format!("{cell:>width$} "),
            None => out += &format!(" {cell}"),
        }
    }
    out.trim_end().to_string() + "\n"
}

/// The cells of one point, in [`HEADER`]'s order.
pub fn cells(point: &BurstPoint) -> Vec<String> {
    let quantile = |q: f64, with_interval: bool| {
        let estimate = point.latency.as_ref().and_then(|l| l.at(q));
        estimate.map_or_else(|| "—".into(), |e| estimate_text(e, with_interval))
    };
    let teardown = {
        let mut values: Vec<f64> = point.samples.iter().map(|s| s.teardown_ns as f64).collect();
        values.sort_by(f64::total_cmp);
        match values.len() {
            0 => "—".to_string(),
            n => format!(
                "{} / {}",
                duration_ns(values[n / 2]),
                duration_ns(values[((n as f64 * 0.99).ceil() as usize).clamp(1, n) - 1])
            ),
        }
    };
    let settled = point.settle.as_ref().map_or_else(
        || "—".into(),
        |s| match s.cgroups_settle_ns {
            Some(ns) => duration_ns(ns as f64),
            None => format!("no: +{}", s.cgroups_after.saturating_sub(s.cgroups_before)),
        },
    );
    vec![
        point.isolator.clone(),
        point.load.label(),
        point.samples.len().to_string(),
        quantile(0.5, true),
        quantile(0.9, false),
        quantile(0.99, true),
        quantile(0.999, false),
        format!("{:.1}", point.achieved_per_second),
        point.failures.to_string(),
        teardown,
        settled,
        notes(point),
    ]
}

/// `1.27 ms [1.25 ms, 1.30 ms]`; an unbounded side is `—`.
pub fn estimate_text(estimate: &QuantileEstimate, with_interval: bool) -> String {
    let value = duration_ns(estimate.value_ns);
    if !with_interval {
        return value;
    }
    let bound = |b: Option<f64>| b.map_or_else(|| "—".into(), duration_ns);
    format!(
        "{value} [{}, {}]",
        bound(estimate.ci_low_ns),
        bound(estimate.ci_high_ns)
    )
}

fn notes(point: &BurstPoint) -> String {
    let mut notes = Vec::new();
    if point.fell_behind {
        let mut lags: Vec<u64> = point.samples.iter().map(|s| s.start_lag_ns).collect();
        lags.sort_unstable();
        notes.push(format!(
            "fell behind its schedule: start lag median {}, max {}",
            duration_ns(lags.get(lags.len() / 2).copied().unwrap_or(0) as f64),
            duration_ns(lags.last().copied().unwrap_or(0) as f64)
        ));
    }
    if let Some(error) = &point.first_error {
        notes.push(format!("first failure: {error}"));
    }
    if let Some(why) = &point.stopped_because {
        notes.push(format!("stopped: {why}"));
    }
    if let Some(added) = point.settle.as_ref().and_then(|s| s.memory_cgroups_added) {
        if added > 0 {
            notes.push(format!("{added} dying memory cgroups left"));
        }
    }
    if !point.leftovers.is_empty() {
        notes.push(format!("LEFTOVERS: {}", point.leftovers.join("; ")));
    }
    notes.join("; ")
}

/// Per isolator: its p99 at each concurrency against its p50 at 1 in flight, and the highest
/// open-loop rate tried that it sustained ([`BurstPoint::sustained`]: p99 within 2× the p50 at
/// that rate, no failure, on schedule).
pub fn tail_lines(points: &[BurstPoint]) -> Vec<String> {
    let mut names: Vec<&str> = Vec::new();
    for point in points {
        if !names.contains(&point.isolator.as_str()) {
            names.push(&point.isolator);
        }
    }
    let mut lines = Vec::new();
    for name in names {
        let mine: Vec<&BurstPoint> = points.iter().filter(|p| p.isolator == name).collect();
        let Some(base) = mine
            .iter()
            .find(|p| p.load == BurstLoad::Closed { concurrency: 1 })
            .and_then(|p| p.latency_ns(0.5))
        else {
            continue;
        };
        let mut parts = Vec::new();
        for point in &mine {
            if let (BurstLoad::Closed { concurrency }, Some(p99)) =
                (&point.load, point.latency_ns(0.99))
            {
                parts.push(format!("{:.1}× at {concurrency}", p99 / base));
            }
        }
        let mut line = format!(
            "{name}: p99 / p50 at 1 in flight ({}): {}",
            duration_ns(base),
            parts.join(", ")
        );
        let rates: Vec<(f64, bool)> = mine
            .iter()
            .filter_map(|p| match &p.load {
                BurstLoad::Open {
                    rate_per_second, ..
                } => Some((*rate_per_second, p.sustained())),
                BurstLoad::Closed { .. } => None,
            })
            .collect();
        if !rates.is_empty() {
            let held = rates.iter().filter(|(_, ok)| *ok).map(|(r, _)| *r);
            line += &match held.fold(None, |best: Option<f64>, r| {
                Some(best.map_or(r, |b| b.max(r)))
            }) {
                Some(rate) => format!("; sustains {rate}/s (p99 ≤ 2× its p50 at that rate)"),
                None => "; no rate tried keeps its p99 within 2× its p50".into(),
            };
        }
        lines.push(line);
    }
    lines
}

/// The whole burst part of a record as text: the host and warnings (unless the record has
/// trials, whose report shows them), the table, then the tail lines.
pub fn render(record: &RunRecord) -> String {
    if record.burst.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    if !record.has_trials() {
        out += &format!("host: {}\n", crate::table::host_line(record));
        for warning in &record.warnings {
            out += &format!("! {}\n", warning.message);
        }
    }
    out += &header();
    for point in &record.burst {
        out += &row(point);
    }
    for line in tail_lines(&record.burst) {
        out += &format!("  {line}\n");
    }
    out
}

/// One row per point, for the Markdown and HTML tables.
pub fn rows(record: &RunRecord) -> Vec<Vec<String>> {
    record.burst.iter().map(cells).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Arrivals, BurstSample, LatencySummary};

    fn point(load: BurstLoad, p50_ns: f64, p99_ns: f64) -> BurstPoint {
        let estimate = |q, value_ns| QuantileEstimate {
            q,
            value_ns,
            ci_low_ns: Some(value_ns * 0.9),
            ci_high_ns: None,
        };
        BurstPoint {
            isolator: "container".into(),
            load,
            launches_requested: 2,
            samples: vec![BurstSample::default(); 100],
            failures: 0,
            first_error: None,
            latency: Some(LatencySummary {
                n: 2,
                quantiles: vec![estimate(0.5, p50_ns), estimate(0.99, p99_ns)],
            }),
            achieved_per_second: 10.0,
            duration_ns: 1,
            fell_behind: false,
            settle: None,
            stopped_because: None,
            leftovers: Vec::new(),
        }
    }

    fn open(rate_per_second: f64) -> BurstLoad {
        BurstLoad::Open {
            rate_per_second,
            arrivals: Arrivals::Poisson,
            seed: 1,
            workers: 64,
        }
    }

    #[test]
    fn concurrency_is_read_against_one_in_flight_and_a_rate_against_its_own_median() {
        let points = [
            point(BurstLoad::Closed { concurrency: 1 }, 1e6, 2e6),
            point(BurstLoad::Closed { concurrency: 16 }, 2e6, 3.5e6),
            point(open(50.0), 1e6, 1.5e6),
            point(open(100.0), 1e6, 2e6),
            // Lone launches colder than back-to-back ones: p99 is 2.8× the p50 at 1 in flight
            // but 1.9× its own p50, so the rate is sustained.
            point(open(200.0), 1.5e6, 2.8e6),
            point(open(400.0), 1e6, 2.5e6),
        ];
        assert_eq!(
            tail_lines(&points),
            ["container: p99 / p50 at 1 in flight (1.00 ms): 2.0× at 1, 3.5× at 16; sustains 200/s (p99 ≤ 2× its p50 at that rate)"]
        );
        let none_held = [
            point(BurstLoad::Closed { concurrency: 1 }, 1e6, 2e6),
            point(open(50.0), 1e6, 2.1e6),
        ];
        assert!(
            tail_lines(&none_held)[0].ends_with("no rate tried keeps its p99 within 2× its p50")
        );
        // Without a point at 1 in flight there is nothing to read the tail against.
        assert!(tail_lines(&points[1..]).is_empty());
    }

    #[test]
    fn an_unbounded_interval_side_is_a_dash() {
        let cells = cells(&point(BurstLoad::Closed { concurrency: 4 }, 1.5e6, 9e6));
        assert_eq!(cells[1], "4 in flight");
        assert_eq!(cells[3], "1.50 ms [1.35 ms, —]");
        assert_eq!(cells[5], "9.00 ms [8.10 ms, —]");
        assert_eq!(cells[6], "—", "no p99.9 computed");
    }
}
