//! The `isobench density` command: prepare launchers, measure each count, write and print.
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use isobench::density::{self, Launcher};
use isobench::{fingerprint, output};
use isolators::registry::{self, RegistryOptions};
use isolators::{Availability, Host};
use reports::{Order, RunConfig, RunRecord, Status, SCHEMA_VERSION};

use crate::cli::DensityArgs;

pub fn run(args: &DensityArgs, options: &RegistryOptions, stop: &AtomicBool) -> Result<ExitCode> {
    let workload = isobench::record::isolators_workload(&args.workload.parse()?)?;
    if args.instances.contains(&0) {
        bail!("--instances: every count must be at least 1");
    }
    let known = registry::names(options);
    for name in &args.isolators {
        if !known.contains(name) {
            bail!(
                "unknown isolator {name:?}: choose from {}",
                known.join(", ")
            );
        }
    }
    let out_dir = args.out.clone().unwrap_or_else(|| {
        let mut dir = output::default_run_dir().into_os_string();
        dir.push("-density");
        dir.into()
    });
    output::prepare_dir(&out_dir)?;
    let host = Host::detect();
    let now = output::utc_timestamp();
    let mut record = RunRecord {
        schema_version: SCHEMA_VERSION,
        isobench_version: env!("CARGO_PKG_VERSION").into(),
        git_revision: env!("ISOBENCH_GIT_REVISION").into(),
        started_at: now.clone(),
        updated_at: now,
        complete: false,
        config: RunConfig {
            runs: 0,
            warmup: 0,
            workload: isobench::record::workload(&workload),
            timeout_ms: (args.timeout * 1000.0) as u64,
            order: Order::Density {
                instances: args.instances.clone(),
                parallel: args.parallel,
            },
            isolators: args.isolators.clone(),
        },
        host: fingerprint::fingerprint(&host, Default::default()),
        isolators: Vec::new(),
        warnings: Vec::new(),
        density: Vec::new(),
    };
    let path = out_dir.join("density.json");
    print!("{}", reports::density::header());
    for name in &args.isolators {
        let probe_isolator = registry::all(options)
            .into_iter()
            .find(|i| i.name() == name)
            .expect("validated above");
        let mut entry =
            isobench::record::isolator_record(probe_isolator.as_ref(), Status::Available);
        if let Availability::Unavailable { reason } = probe_isolator.availability(&host) {
            entry.status = Status::Unavailable { reason };
            print!(
                "{}",
                reports::density::not_measured(name, &entry.status).unwrap_or_default()
            );
            record.isolators.push(entry);
            continue;
        }
        let launchers: Result<Vec<Launcher>, _> = (0..args.parallel)
            .map(|_| {
                let isolator = registry::all(options)
                    .into_iter()
                    .find(|i| i.name() == name)
                    .expect("validated above");
                Launcher::prepare(isolator, &workload)
            })
            .collect();
        let mut launchers = match launchers {
            Ok(launchers) => launchers,
            Err(e) => {
                entry.status = Status::PrepareFailed {
                    error: e.to_string(),
                };
                print!(
                    "{}",
                    reports::density::not_measured(name, &entry.status).unwrap_or_default()
                );
                record.isolators.push(entry);
                continue;
            }
        };
        record.isolators.push(entry);
        for &count in &args.instances {
            let point = density::measure(
                &mut launchers,
                count,
                Duration::from_secs_f64(args.timeout),
                stop,
            );
            print!("{}", reports::density::row(&point));
            let stop_here = point.stopped_because.is_some();
            record.density.push(point);
            record.updated_at = output::utc_timestamp();
            output::write_atomic(&path, &serde_json::to_vec_pretty(&record)?)?;
            if stop_here {
                break;
            }
        }
        if stop.load(Ordering::SeqCst) {
            break;
        }
    }
    let interrupted = stop.load(Ordering::SeqCst);
    record.complete = !interrupted;
    record.host.loadavg_end = fingerprint::loadavg();
    output::write_atomic(&path, &serde_json::to_vec_pretty(&record)?)?;
    output::write_atomic(
        &out_dir.join("density.md"),
        reports::markdown::render(&record).as_bytes(),
    )?;
    reports::html::write(
        &record,
        &out_dir,
        &[("JSON", "density.json"), ("Markdown", "density.md")],
    )
    .with_context(|| format!("cannot write the HTML report into {}", out_dir.display()))?;
    eprintln!("results: {}", out_dir.display());
    let leaked = record.density.iter().any(|p| !p.leftovers.is_empty());
    let prepare_failed = isobench::record::prepare_failures(&record);
    if let Some(line) = &prepare_failed {
        eprintln!("{line}");
    }
    Ok(if leaked || prepare_failed.is_some() {
        ExitCode::FAILURE
    } else if interrupted {
        ExitCode::from(crate::EXIT_INTERRUPTED)
    } else {
        ExitCode::SUCCESS
    })
}
