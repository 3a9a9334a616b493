//! `isobench burst` in the record: one [`BurstPoint`] per isolator and load (a concurrency held
//! in a closed loop, or an arrival rate in an open loop), with every launch's raw latency.
use serde::{Deserialize, Serialize};

/// The load one burst point put on an isolator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "loop")]
pub enum BurstLoad {
    /// `concurrency` workers, each: launch → ready → release → gone, then launch again.
    Closed { concurrency: u32 },
    /// Launches due on a precomputed, seeded schedule at `rate_per_second` on average, taken
    /// by the first free of `workers`; latency counts from the scheduled time.
    Open {
        rate_per_second: f64,
        arrivals: Arrivals,
        seed: u64,
        workers: u32,
    },
}

/// How the open loop's launches are spaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arrivals {
    /// Exponential gaps (a Poisson process): independent callers, bursts and lulls.
    Poisson,
    /// Equal gaps of 1/rate (constant throughput, as wrk2).
    Uniform,
}

impl std::fmt::Display for Arrivals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Arrivals::Poisson => "poisson",
            Arrivals::Uniform => "uniform",
        })
    }
}

impl std::str::FromStr for Arrivals {
    type Err = String;
    fn from_str(text: &str) -> Result<Arrivals, String> {
        match text {
            "poisson" => Ok(Arrivals::Poisson),
            "uniform" => Ok(Arrivals::Uniform),
            _ => Err(format!(
                "unknown arrivals {text:?}: choose poisson or uniform"
            )),
        }
    }
}

impl BurstLoad {
    /// `16 in flight` or `100/s poisson`.
    pub fn label(&self) -> String {
        match self {
            BurstLoad::Closed { concurrency } => format!("{concurrency} in flight"),
            BurstLoad::Open {
                rate_per_second,
                arrivals,
                ..
            } => format!("{rate_per_second}/s {arrivals}"),
        }
    }

    /// A short key that tells points apart within one isolator: `c16`, `r100`.
    pub fn key(&self) -> String {
        match self {
            BurstLoad::Closed { concurrency } => format!("c{concurrency}"),
            BurstLoad::Open {
                rate_per_second, ..
            } => format!("r{rate_per_second}"),
        }
    }
}

/// One launch of a burst point.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BurstSample {
    /// When the launch was due (open loop: its scheduled time; closed loop: when it started),
    /// ns since the point began.
    pub due_ns: u64,
    /// From due to the launch actually starting: a free worker's wait (0 in a closed loop).
    pub start_lag_ns: u64,
    /// From due to the probe's ready signal: what a caller saw (start lag included).
    pub latency_ns: u64,
    /// From release to every process and resource gone.
    pub teardown_ns: u64,
}

/// A quantile of the latencies with a distribution-free 95% confidence interval from order
/// statistics (exact binomial); a bound is None where too few samples exist to give one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantileEstimate {
    /// The quantile, 0..1 (0.99 for p99).
    pub q: f64,
    pub value_ns: f64,
    pub ci_low_ns: Option<f64>,
    pub ci_high_ns: Option<f64>,
}

/// The latency quantiles of a point: p50, p90, p99 and p99.9, in that order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub n: u32,
    pub quantiles: Vec<QuantileEstimate>,
}

impl LatencySummary {
    /// The estimate of quantile `q`, when it was computed.
    pub fn at(&self, q: f64) -> Option<&QuantileEstimate> {
        self.quantiles.iter().find(|e| (e.q - q).abs() < 1e-9)
    }
}

/// How the host's cgroups came back after a point. A removed cgroup lingers as "dying" until
/// the kernel drops its last reference; the counts are of live and dying cgroups in every
/// hierarchy (cgroup2's `nr_descendants + nr_dying_descendants`, each v1 hierarchy's
/// `num_cgroups`) but the v1 memory one, whose removed cgroups stay while pages charged to
/// them remain and are counted apart. Other work on the host moves these counts too. The
/// kernel shows no count of network namespaces still being destroyed; their cost shows only
/// where a launcher waits for it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostSettle {
    pub cgroups_before: u64,
    pub cgroups_after: u64,
    /// From the last instance gone until the count was back at its count before the point;
    /// None when it was not within the wait (then `cgroups_after` is where it stood).
    pub cgroups_settle_ns: Option<u64>,
    /// v1 memory hierarchy: cgroups the point left behind as dying (None without one).
    pub memory_cgroups_added: Option<i64>,
    /// How long it waited for the count.
    pub waited_ns: u64,
}

/// One isolator under one load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BurstPoint {
    pub isolator: String,
    pub load: BurstLoad,
    /// Launches asked for.
    pub launches_requested: u32,
    /// Every launch that became ready, in the order they were due.
    pub samples: Vec<BurstSample>,
    /// Launches that failed (launch, ready or teardown), and the first error.
    pub failures: u32,
    pub first_error: Option<String>,
    pub latency: Option<LatencySummary>,
    /// Launches ready per second: samples / (first start → last ready).
    pub achieved_per_second: f64,
    /// From the point's start until the last instance was gone.
    pub duration_ns: u64,
    /// Open loop: true when the launches started behind their schedule (median start lag above
    /// the mean gap between arrivals): the isolator, with this many workers, cannot keep up.
    #[serde(default)]
    pub fell_behind: bool,
    pub settle: Option<HostSettle>,
    /// Why it stopped short of `launches_requested` (interrupted, budget, failures).
    pub stopped_because: Option<String>,
    /// Anything found still present after the point (should be empty).
    #[serde(default)]
    pub leftovers: Vec<String>,
}

/// An open-loop rate is sustained while its p99 stays within this factor of its p50 (the same
/// point's: a lone launch at a low rate is colder than back-to-back launches at 1 in flight, so
/// that p50 would refuse every rate).
pub const SUSTAINED_TAIL_FACTOR: f64 = 2.0;
/// Fewer launches than this and a point's p99 is little more than its maximum: it cannot show
/// a rate sustained.
pub const SUSTAINED_MIN_LAUNCHES: usize = 100;

impl BurstPoint {
    /// Whether this point kept its tail within [`SUSTAINED_TAIL_FACTOR`] × its own p50 with no
    /// failure and on schedule, over at least
    /// [`SUSTAINED_MIN_LAUNCHES`] launches. A point its budget cut short still counts: its
    /// launches were on schedule.
    pub fn sustained(&self) -> bool {
        let within = self
            .latency_ns(0.99)
            .zip(self.latency_ns(0.5))
            .is_some_and(|(p99, p50)| p99 <= SUSTAINED_TAIL_FACTOR * p50);
        let enough = self.samples.len() >= SUSTAINED_MIN_LAUNCHES;
        within && enough && self.failures == 0 && !self.fell_behind
    }

    /// The latency estimate at `q` in ns, when there is one.
    pub fn latency_ns(&self, q: f64) -> Option<f64> {
        Some(self.latency.as_ref()?.at(q)?.value_ns)
    }
}
