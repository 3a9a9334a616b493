//! The `isobench density` command: check the arguments, prepare launchers, hold each instance
//! count in turn, write density.json (after every point), density.md and the HTML report.
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{bail, Result};
use isobench::density;
use isobench::run_dir::RunDir;
use isobench::{fingerprint, output, record};
use isolators::registry::IsolatorOptions;
use isolators::Host;
use isolators::Prepared;
use reports::{Order, RunConfig, RunRecord, Status, Workload};

use crate::cli::DensityArgs;
use crate::select;

pub fn run(args: &DensityArgs, options: &IsolatorOptions, stop: &AtomicBool) -> Result<ExitCode> {
    let mut workload: Workload = args.workload.parse()?;
    if options.user.is_some() {
        workload.mode = isolators::protocol::Mode::Exec;
    }
    isobench::preflight::check_workload_fits(
        &workload,
        isobench::preflight::host_mem_total_bytes(),
    )
    .map_err(anyhow::Error::msg)?;
    if args.instances.contains(&0) {
        bail!("--instances: every count must be at least 1");
    }
    let names = select::for_density(&args.isolators, options)?;
    let run_dir = RunDir::claim(args.out.as_deref(), "-density", args.force, "--out")?;
    let out_dir = run_dir.path();
    let host = Host::detect();
    let config = RunConfig {
        runs: 0,
        warmup: 0,
        workload,
        timeout_ms: (args.timeout * 1000.0) as u64,
        order: Order::Density {
            instances: args.instances.clone(),
            parallel: args.parallel,
        },
        isolators: names.clone(),
        user_workload: options.user.as_deref().map(crate::user_args::record),
    };
    let mut record = record::new_run(config, fingerprint::fingerprint(&host, Default::default()));
    let path = out_dir.join("density.json");
    print!("{}", reports::density::header());
    for name in &names {
        measure(name, args, options, &host, stop, &mut record, &path)?;
        if stop.load(Ordering::SeqCst) {
            break;
        }
    }
    let interrupted = stop.load(Ordering::SeqCst);
    record.complete = !interrupted;
    record.host.loadavg_end = fingerprint::loadavg();
    write_json(&path, &record)?;
    crate::exports::write_markdown_and_html(out_dir, &record, "density")?;
    eprintln!("results: {}", out_dir.display());
    let leaked = record.density.iter().any(|p| !p.leftovers.is_empty());
    let prepare_failed = record::prepare_failures(&record);
    if let Some(line) = &prepare_failed {
        eprintln!("{line}");
    }
    Ok(if leaked || prepare_failed.is_some() {
        ExitCode::FAILURE
    } else if interrupted {
        crate::interrupt::exit_code()
    } else {
        ExitCode::SUCCESS
    })
}

/// One isolator: its record entry, then every instance count until one stops short, each
/// point printed and written as it is measured.
fn measure(
    name: &str,
    args: &DensityArgs,
    options: &IsolatorOptions,
    host: &Host,
    stop: &AtomicBool,
    record: &mut RunRecord,
    path: &Path,
) -> Result<()> {
    let isolator = select::fresh(name, options);
    let mut entry = record::isolator_record(
        isolator.as_ref(),
        record::status(isolator.availability(host)),
    );
    let launchers = match entry.status {
        Status::Available => prepare(name, args.parallel, options, &record.config.workload),
        _ => Err(entry.status.clone()),
    };
    let mut launchers = match launchers {
        Ok(launchers) => launchers,
        Err(status) => {
            entry.status = status;
            print!(
                "{}",
                reports::density::not_measured(name, &entry.status).unwrap_or_default()
            );
            record.isolators.push(entry);
            return Ok(());
        }
    };
    record.isolators.push(entry);
    for &count in &args.instances {
        let timeout = Duration::from_secs_f64(args.timeout);
        let point = density::measure(&mut launchers, count, timeout, stop);
        print!("{}", reports::density::row(&point));
        for launcher in &mut launchers {
            for line in launcher.probe_stderr() {
                eprintln!("probe ({name}): {line}");
            }
        }
        let stop_here = point.stopped_because.is_some();
        record.density.push(point);
        record.updated_at = output::utc_timestamp();
        write_json(path, record)?;
        if stop_here {
            break;
        }
    }
    Ok(())
}

/// One launcher per thread (`--parallel`), each a prepared isolator; the status to record
/// when preparing fails.
fn prepare(
    name: &str,
    parallel: u32,
    options: &IsolatorOptions,
    workload: &Workload,
) -> Result<Vec<Prepared>, Status> {
    (0..parallel)
        .map(|_| Prepared::new(select::fresh(name, options).as_ref(), workload))
        .collect::<Result<_, _>>()
        .map_err(|e| Status::PrepareFailed {
            error: e.to_string(),
        })
}

/// density.json as it has always been written (pretty, no final newline).
fn write_json(path: &Path, record: &RunRecord) -> Result<()> {
    output::write_atomic(path, &serde_json::to_vec_pretty(record)?)
}
