//! Command-line definitions (clap).
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "isobench",
    version,
    about = "What does isolation really cost on this machine? Startup, memory and disk of one probe under processes, containers, sandboxes and microVMs."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every isolator and whether it can run here (and if not, what to do).
    List(EngineArgs),
    /// Run the comparison (default: every available isolator).
    Run(Box<RunArgs>),
    /// Re-render a saved run (run.json) without touching the host.
    Report(ReportArgs),
    /// Compare two saved runs: per isolator and metric, the change, its CI and a verdict.
    Compare(CompareArgs),
    /// Hold many instances at once: launch rate, time to all ready, memory per instance.
    Density(Box<DensityArgs>),
    /// Remove what killed isobench processes left: cgroups, scratch dirs, mounts.
    ///
    /// Finds them by the owner (pid and start time) in their names, in every cgroup hierarchy
    /// and in TMPDIR; what a live isobench holds is never touched. `run` and `density` do the
    /// same at start.
    Clean,
    /// Launch latency under load: at fixed concurrencies (closed loop) and arrival rates (open
    /// loop), p50/p90/p99/p99.9 per point.
    Burst(Box<BurstArgs>),
}

#[derive(Debug, Args, Clone)]
pub struct BurstArgs {
    /// Isolators to measure, comma-separated, or "all".
    #[arg(
        short,
        long,
        value_delimiter = ',',
        default_value = "process,container"
    )]
    pub isolators: Vec<String>,
    /// Closed loop: launches in flight at once, comma-separated ("none" to skip).
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16,64")]
    pub concurrency: Vec<String>,
    /// Open loop: launches per second, comma-separated ("none" to skip).
    #[arg(long, value_delimiter = ',', default_value = "50,100,200")]
    pub rate: Vec<String>,
    /// Launches per point (p99's interval needs 368, p99.9's 3688).
    #[arg(long, default_value_t = 400, value_parser = clap::value_parser!(u32).range(1..))]
    pub launches: u32,
    /// Open loop arrivals: poisson (exponential gaps) or uniform (equal gaps).
    #[arg(long, default_value = "poisson")]
    pub arrivals: reports::Arrivals,
    /// Seed of the Poisson schedule: the same seed, the same schedule.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// After the points asked for, search for the highest arrival rate each isolator sustains
    /// (p99 within 2× its p50 at 1 in flight, no failure, on schedule, over at least 100
    /// launches): doubling or halving from half its rate at 1 in flight, then three bisections.
    #[arg(long)]
    pub find_rate: bool,
    /// Open loop: the most launches in flight at once (worker threads, each with a launcher).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_in_flight: u32,
    /// Probe workload (see `run --workload`).
    #[arg(long, default_value = "noop")]
    pub workload: String,
    /// Per-launch timeout for ready and for gone, seconds.
    #[arg(long, default_value_t = 30.0, value_name = "SECS")]
    pub timeout: f64,
    /// A point stops launching after this many seconds, and says so.
    #[arg(long, default_value_t = 60.0, value_name = "SECS")]
    pub budget: f64,
    /// Directory for burst.json (default: results/<UTC time>-burst).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace the results already in --out (else a directory holding a run is refused).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub engines: EngineArgs,
    /// Your workload instead of the probe's (see `run --rootfs`).
    #[command(flatten)]
    pub user: crate::user_args::UserWorkloadArgs,
}

#[derive(Debug, Args, Clone)]
pub struct DensityArgs {
    /// Isolators to measure, comma-separated, or "all".
    #[arg(
        short,
        long,
        value_delimiter = ',',
        default_value = "process,container"
    )]
    pub isolators: Vec<String>,
    /// Instance counts to hold at once, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,10,50,100")]
    pub instances: Vec<u32>,
    /// Launcher threads.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub parallel: u32,
    /// Probe workload (see `run --workload`).
    #[arg(long, default_value = "noop")]
    pub workload: String,
    /// Per-instance timeout, seconds.
    #[arg(long, default_value_t = 30.0, value_name = "SECS")]
    pub timeout: f64,
    /// Directory for density.json (default: results/<UTC time>-density).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace the results already in --out (else a directory holding a run is refused).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub engines: EngineArgs,
    /// Your workload instead of the probe's (see `run --rootfs`).
    #[command(flatten)]
    pub user: crate::user_args::UserWorkloadArgs,
}

#[derive(Debug, Args, Clone)]
pub struct CompareArgs {
    /// The earlier run.json (or its directory); several, comma-separated, are pooled (runs
    /// of one build alternated with the other's: A B B A, so host drift hits both sides alike).
    #[arg(value_delimiter = ',', required = true, num_args = 1)]
    pub base: Vec<PathBuf>,
    /// The later run.json (or its directory); several, comma-separated, are pooled.
    #[arg(value_delimiter = ',', required = true, num_args = 1)]
    pub new: Vec<PathBuf>,
    /// Changes smaller than this (percent) count as noise.
    #[arg(long, default_value_t = 5.0, value_name = "PCT", value_parser = parse_percent)]
    pub threshold: f64,
    /// Exit with status 1 when any metric is significantly worse by more than PCT percent.
    #[arg(long, value_name = "PCT", value_parser = parse_percent)]
    pub fail_on_regression: Option<f64>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct EngineArgs {
    /// Use this binary for an engine, e.g. --engine runc=/usr/local/bin/runc (repeatable).
    /// NAME is an external isolator's name (`isobench list` shows them).
    #[arg(long = "engine", value_name = "NAME=PATH", value_parser = parse_engine)]
    pub engines: Vec<(String, PathBuf)>,
    /// Guest kernel for Linux microVMs (else ISOBENCH_KERNEL, the cache, /boot).
    #[arg(long, value_name = "PATH")]
    pub kernel: Option<PathBuf>,
    /// Guest memory for microVMs, MiB (16 to 65536: what isobench-vmm maps).
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u32).range(16..=i64::from(isolators::protocol::MAX_GUEST_MEM_MIB)))]
    pub mem_mib: Option<u32>,
}

#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// Isolators to compare, comma-separated, or "all". The process baseline is always measured.
    #[arg(short, long, value_delimiter = ',', default_value = "all")]
    pub isolators: Vec<String>,
    /// Measured trials per isolator.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,
    /// Discarded warm-up trials per isolator.
    #[arg(long, default_value_t = 3)]
    pub warmup: u32,
    /// Probe workload: noop, touch:<MiB>, cpu:<M>, syscall:<N>, mem:<MiB>, io:<KiB>, or exec
    /// (your command: implied by --rootfs, --cmd and --ready).
    #[arg(long, default_value = "noop")]
    pub workload: String,
    /// Per-trial timeout for ready and for teardown, seconds (with --cmd, at least
    /// --ready-timeout and --stop-grace plus 30 s).
    #[arg(long, default_value_t = 30.0, value_name = "SECS")]
    pub timeout: f64,
    /// Time budget per isolator, seconds: a slow isolator (an emulated VM) stops after 10
    /// measured runs once its trials took this long, and says so. 0: every isolator gets
    /// every run.
    #[arg(long, default_value_t = 30.0, value_name = "SECS")]
    pub budget: f64,
    /// Host cost: after the trials, hold this many instances of each isolator at once and read
    /// what the whole host paid (/proc/meminfo, system-wide CPU). 0 skips it. Below ~50 the
    /// kernel's objects fill slab pages it already had, and the system-wide figure reads low.
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub host_batch: u32,
    /// How many host-cost batches per isolator (interleaved), to see their noise.
    #[arg(long, default_value_t = 3, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub host_repeats: u32,
    /// Directory for run.json, samples.jsonl, run.csv and run.md (default: a new
    /// results/<UTC time>, with -2, -3, … when another run started in the same second).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace the results already in --out (else a directory holding a run is refused).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub exports: ExportArgs,
    #[command(flatten)]
    pub engines: EngineArgs,
    #[command(flatten)]
    pub user: crate::user_args::UserWorkloadArgs,
    /// Test-only: the probe sleeps this long before ready, a real slowdown (to test `compare`).
    #[arg(long, hide = true, default_value_t = 0, value_name = "MICROSECONDS")]
    pub inject_startup_delay_us: u64,
}

#[derive(Debug, Args, Clone, Default)]
pub struct ExportArgs {
    /// Also write the JSON record here.
    #[arg(long, value_name = "FILE")]
    pub export_json: Option<PathBuf>,
    /// Also write one CSV row per raw sample here.
    #[arg(long, value_name = "FILE")]
    pub export_csv: Option<PathBuf>,
    /// Also write a Markdown report here.
    #[arg(long, value_name = "FILE")]
    pub export_markdown: Option<PathBuf>,
    /// Write an HTML report with PNG charts into this directory.
    #[arg(long, value_name = "DIR")]
    pub html: Option<PathBuf>,
    /// Also print each isolator's median phases (where startup goes) after the table.
    #[arg(long)]
    pub phases: bool,
}

#[derive(Debug, Args, Clone)]
pub struct ReportArgs {
    /// A run.json (or density.json, burst.json) written by isobench, or the directory holding it.
    pub run_json: PathBuf,
    #[command(flatten)]
    pub exports: ExportArgs,
}

fn parse_engine(text: &str) -> Result<(String, PathBuf), String> {
    match text.split_once('=') {
        Some((name, path)) if !name.is_empty() && !path.is_empty() => {
            let known = isolators::registry::engine_names();
            if !known.iter().any(|k| k == name) {
                return Err(format!(
                    "unknown engine {name:?}: choose from {}",
                    known.join(", ")
                ));
            }
            Ok((name.to_string(), PathBuf::from(path)))
        }
        _ => Err(format!(
            "{text:?} is not NAME=PATH (e.g. runc=/usr/local/bin/runc)"
        )),
    }
}

/// A percentage for `compare`: NaN would turn every comparison false (no gate, no change),
/// an infinity or a negative value has no meaning as a tolerance.
fn parse_percent(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() && value >= 0.0 => Ok(value),
        _ => Err("must be a finite percentage, 0 or more (e.g. 5)".into()),
    }
}
