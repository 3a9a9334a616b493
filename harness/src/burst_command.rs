//! The `isobench burst` command: check the arguments, then per isolator its closed-loop points
//! and its open-loop points, each printed and written to burst.json as it finishes; at the end
//! burst.md and the HTML report.
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use isobench::burst::{self, open_loop::Rate, Limits, Pool};
use isobench::run_dir::RunDir;
use isobench::{fingerprint, output, record};
use isolators::registry::IsolatorOptions;
use isolators::Host;
use reports::{
    BurstLoad, Flag, Kind, Order, RunConfig, RunRecord, Status, Warning, WarningCode, Workload,
};

use crate::cli::BurstArgs;
use crate::select;

/// The checked loads: concurrencies and rates.
struct Loads {
    concurrency: Vec<u32>,
    rates: Vec<f64>,
}

fn loads(args: &BurstArgs) -> Result<Loads> {
    let skip = |list: &[String]| list.len() == 1 && list[0] == "none";
    let mut concurrency = Vec::new();
    for text in args.concurrency.iter().filter(|_| !skip(&args.concurrency)) {
        match text.parse::<u32>() {
            Ok(n @ 1..=1024) => concurrency.push(n),
            _ => bail!(
                "--concurrency {text:?}: each must be a whole number from 1 to 1024 (or none)"
            ),
        }
    }
    let mut rates = Vec::new();
    for text in args.rate.iter().filter(|_| !skip(&args.rate)) {
        match text.parse::<f64>() {
            Ok(rate) if rate.is_finite() && rate > 0.0 && rate <= 1e6 => rates.push(rate),
            _ => bail!("--rate {text:?}: each must be launches per second above 0 (or none)"),
        }
    }
    if concurrency.is_empty() && rates.is_empty() && !args.find_rate {
        bail!("--concurrency none and --rate none: nothing to measure; give at least one, or --find-rate");
    }
    for (flag, value) in [("--timeout", args.timeout), ("--budget", args.budget)] {
        if !(value.is_finite() && value > 0.0) {
            bail!("{flag} {value}: must be a positive number of seconds");
        }
    }
    Ok(Loads { concurrency, rates })
}

pub fn run(args: &BurstArgs, options: &IsolatorOptions, stop: &AtomicBool) -> Result<ExitCode> {
    let mut workload: Workload = args.workload.parse()?;
    if options.user.is_some() {
        workload.mode = isolators::protocol::Mode::Exec;
    }
    let loads = loads(args)?;
    let names = select::for_density(&args.isolators, options)?;
    let run_dir = RunDir::claim(args.out.as_deref(), "-burst", args.force, "--out")?;
    let out_dir = run_dir.path();
    let host = Host::detect();
    let config = RunConfig {
        runs: 0,
        warmup: 0,
        workload,
        timeout_ms: (args.timeout * 1000.0) as u64,
        order: Order::Burst,
        isolators: names.clone(),
        user_workload: options.user.as_deref().map(crate::user_args::record),
    };
    let mut record = record::new_run(config, fingerprint::fingerprint(&host, Default::default()));
    // The burst's own launches run side by side, so other work is sampled before they start.
    let mut other_work = fingerprint::OtherWork::default();
    other_work.sample_for(20, Duration::from_millis(5));
    record.host.other_runnable_mean = other_work.mean();
    let path = out_dir.join("burst.json");
    let limits = Limits {
        launches: args.launches,
        timeout: Duration::from_secs_f64(args.timeout),
        budget: Duration::from_secs_f64(args.budget),
        stop,
    };
    print!("{}", reports::burst::header());
    for name in &names {
        measure(
            name,
            args,
            &loads,
            options,
            &host,
            &limits,
            &mut record,
            &path,
        )?;
        if stop.load(Ordering::SeqCst) {
            break;
        }
    }
    let interrupted = stop.load(Ordering::SeqCst);
    record.complete = !interrupted;
    record.host.loadavg_end = fingerprint::loadavg();
    warn(&mut record, host.kvm.is_software());
    write_json(&path, &record)?;
    for line in reports::burst::tail_lines(&record.burst) {
        println!("  {line}");
    }
    for warning in &record.warnings {
        eprintln!("! {}", warning.message);
    }
    crate::exports::write_markdown_and_html(out_dir, &record, "burst")?;
    eprintln!("results: {}", out_dir.display());
    let leaked = record.burst.iter().any(|p| !p.leftovers.is_empty());
    let prepare_failed = record::prepare_failures(&record);
    if let Some(line) = &prepare_failed {
        eprintln!("{line}");
    }
    let failed = failed_launches(&record);
    if let Some(line) = &failed {
        eprintln!("{line}");
    }
    Ok(if leaked || prepare_failed.is_some() || failed.is_some() {
        ExitCode::FAILURE
    } else if interrupted {
        crate::interrupt::exit_code()
    } else {
        ExitCode::SUCCESS
    })
}

/// The closing line when launches failed: how many, where, and the first error.
fn failed_launches(record: &RunRecord) -> Option<String> {
    let failed: Vec<&reports::BurstPoint> =
        record.burst.iter().filter(|p| p.failures > 0).collect();
    let first = failed.first()?;
    let total: u32 = failed.iter().map(|p| p.failures).sum();
    Some(format!(
        "isobench: {total} launches failed, in {} point(s); the first, {} {}: {}",
        failed.len(),
        first.isolator,
        first.load.label(),
        first.first_error.as_deref().unwrap_or("no message")
    ))
}

/// One isolator: its record entry, its closed-loop points, then its open-loop points.
#[allow(clippy::too_many_arguments)]
fn measure(
    name: &str,
    args: &BurstArgs,
    loads: &Loads,
    options: &IsolatorOptions,
    host: &Host,
    limits: &Limits<'_>,
    record: &mut RunRecord,
    path: &Path,
) -> Result<()> {
    let isolator = select::fresh(name, options);
    let mut entry = record::isolator_record(
        isolator.as_ref(),
        record::status(isolator.availability(host)),
    );
    if !entry.status.is_available() {
        print!(
            "{}",
            reports::density::not_measured(name, &entry.status).unwrap_or_default()
        );
        record.isolators.push(entry);
        return Ok(());
    }
    let mut pool = Pool::new(isolator, record.config.workload);
    // Prepare for the largest load first, so a failure to prepare is found before measuring.
    let most = loads
        .concurrency
        .iter()
        .copied()
        .chain((!loads.rates.is_empty() || args.find_rate).then_some(args.max_in_flight))
        .max()
        .unwrap_or(1);
    if let Err(error) = pool.launchers(most as usize) {
        entry.status = Status::PrepareFailed {
            error: error.to_string(),
        };
        print!(
            "{}",
            reports::density::not_measured(name, &entry.status).unwrap_or_default()
        );
        record.isolators.push(entry);
        return Ok(());
    }
    record.isolators.push(entry);
    let closed = loads.concurrency.iter().map(|&c| Load::Closed(c));
    let open = loads.rates.iter().map(|&per_second| {
        Load::Open(Rate {
            per_second,
            arrivals: args.arrivals,
            seed: args.seed,
            workers: args.max_in_flight,
        })
    });
    let mut point_at = |load: Load, record: &mut RunRecord| -> Result<()> {
        let point = match load {
            Load::Closed(concurrency) => {
                burst::closed_loop::measure(&mut pool, concurrency, limits)
            }
            Load::Open(rate) => burst::open_loop::measure(&mut pool, rate, limits),
        }
        .with_context(|| format!("{name}: cannot prepare more launchers"))?;
        print!("{}", reports::burst::row(&point));
        record.burst.push(point);
        record.updated_at = output::utc_timestamp();
        write_json(path, record)
    };
    for load in closed.chain(open) {
        if limits.stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        point_at(load, record)?;
    }
    if args.find_rate {
        find_rate(name, args, limits, record, &mut point_at)?;
    }
    Ok(())
}

/// `--find-rate`: open-loop points at the rates [`burst::find_rate::next_rate`] picks, after a
/// point at 1 in flight when there is none yet; the rates asked for count as tried.
fn find_rate(
    name: &str,
    args: &BurstArgs,
    limits: &Limits<'_>,
    record: &mut RunRecord,
    point_at: &mut dyn FnMut(Load, &mut RunRecord) -> Result<()>,
) -> Result<()> {
    let at_one = |record: &RunRecord| {
        let point = record
            .burst
            .iter()
            .find(|p| p.isolator == name && p.load == BurstLoad::Closed { concurrency: 1 })?;
        point.latency_ns(0.5)?;
        Some(point.achieved_per_second)
    };
    if at_one(record).is_none() && !limits.stop.load(Ordering::SeqCst) {
        point_at(Load::Closed(1), record)?;
    }
    let Some(sequential_per_second) = at_one(record) else {
        return Ok(());
    };
    let tried = |record: &RunRecord| -> Vec<(f64, bool)> {
        record
            .burst
            .iter()
            .filter(|p| p.isolator == name)
            .filter_map(|p| match p.load {
                BurstLoad::Open {
                    rate_per_second, ..
                } => Some((rate_per_second, p.sustained())),
                BurstLoad::Closed { .. } => None,
            })
            .collect()
    };
    // Half of what one launch at a time achieved: a rate most isolators sustain.
    let start = (sequential_per_second / 2.0).round().max(1.0);
    while let Some(per_second) = burst::find_rate::next_rate(&tried(record), start) {
        if limits.stop.load(Ordering::SeqCst) {
            break;
        }
        let rate = Rate {
            per_second,
            arrivals: args.arrivals,
            seed: args.seed,
            workers: args.max_in_flight,
        };
        point_at(Load::Open(rate), record)?;
    }
    Ok(())
}

enum Load {
    Closed(u32),
    Open(Rate),
}

/// Flags and warnings a burst record carries: software KVM under VM rows, a busy host.
fn warn(record: &mut RunRecord, software_kvm: bool) {
    let mut warnings = Vec::new();
    for isolator in &mut record.isolators {
        let is_kvm_vm = isolator.kind == Kind::Microvm && !isolator.emulated;
        if isolator.status.is_available() && is_kvm_vm && software_kvm {
            isolator.flags = vec![Flag::SoftwareKvm];
            warnings.push(Warning {
                code: WarningCode::SoftwareKvm,
                isolator: Some(isolator.name.clone()),
                message: format!("{}: /dev/kvm is software (kvm_pvm) here; VM timings do not reflect hardware virtualization", isolator.name),
            });
        }
    }
    warnings.extend(record::noisy_host(
        &record.host,
        "just before the burst",
        "burst",
    ));
    record.warnings = warnings;
}

/// burst.json, pretty, as density.json.
fn write_json(path: &Path, record: &RunRecord) -> Result<()> {
    output::write_atomic(path, &serde_json::to_vec_pretty(record)?)
}
