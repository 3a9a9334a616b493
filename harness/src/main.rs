//! `isobench`: the command line. Errors end as one line on stderr and a non-zero exit.
mod burst_command;
mod clean_command;
mod cli;
mod density_command;
mod exports;
mod interrupt;
mod progress;
mod select;
mod user_args;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use isobench::checkpoint::RunFiles;
use isobench::run_dir::RunDir;
use isobench::runner::{self, RunOptions};
use isobench::{fingerprint, record};
use isolators::registry::{self, IsolatorOptions};
use isolators::Host;

use cli::{Cli, Command, CompareArgs, EngineArgs, ReportArgs, RunArgs};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli
        .command
        .unwrap_or_else(|| Command::Run(Box::new(default_run_args())));
    let outcome = match command {
        Command::List(args) => list(&args),
        Command::Run(args) => run(&args),
        Command::Report(args) => report(&args),
        Command::Compare(args) => compare(&args),
        Command::Clean => clean_command::run(),
        Command::Density(mut args) => {
            clean_command::at_start();
            interrupt_flag().and_then(|stop| {
                let options = options_with_user(
                    &args.workload,
                    &args.user,
                    &args.engines,
                    &mut args.timeout,
                )?;
                density_command::run(&args, &options, &stop)
            })
        }
        Command::Burst(mut args) => {
            clean_command::at_start();
            interrupt_flag().and_then(|stop| {
                let options = options_with_user(
                    &args.workload,
                    &args.user,
                    &args.engines,
                    &mut args.timeout,
                )?;
                burst_command::run(&args, &options, &stop)
            })
        }
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("isobench: error: {}", one_line(&error));
            ExitCode::FAILURE
        }
    }
}

fn default_run_args() -> RunArgs {
    match Cli::parse_from(["isobench", "run"]).command {
        Some(Command::Run(args)) => *args,
        _ => unreachable!("`isobench run` always parses to Command::Run"),
    }
}

fn registry_options(args: &EngineArgs) -> IsolatorOptions {
    IsolatorOptions {
        engine_paths: args.engines.iter().cloned().collect(),
        kernel: args.kernel.clone(),
        vm_mem_mib: args.mem_mib,
        user: None,
    }
}

/// `density` and `burst`: the isolators' options with the user's workload, if any, and the
/// per-launch timeout (seconds) raised to cover its readiness check.
fn options_with_user(
    workload: &str,
    user_args: &user_args::UserWorkloadArgs,
    engines: &EngineArgs,
    timeout_secs: &mut f64,
) -> Result<IsolatorOptions> {
    let user = user_args.build(&workload.parse()?)?;
    // A bad --timeout is left for the command to refuse.
    if user.is_some() && timeout_secs.is_finite() && *timeout_secs > 0.0 {
        let asked = Duration::from_secs_f64(*timeout_secs);
        *timeout_secs = user_args.trial_timeout(asked).as_secs_f64();
    }
    Ok(IsolatorOptions {
        user,
        ..registry_options(engines)
    })
}

fn list(args: &EngineArgs) -> Result<ExitCode> {
    let host = Host::detect();
    let isolators: Vec<reports::IsolatorRecord> = registry::all(&registry_options(args))
        .iter()
        .map(|i| record::isolator_record(i.as_ref(), record::status(i.availability(&host))))
        .collect();
    print!("{}", reports::list::render(&isolators));
    Ok(ExitCode::SUCCESS)
}

fn run(args: &RunArgs) -> Result<ExitCode> {
    clean_command::at_start();
    let mut workload = args
        .workload
        .parse::<isolators::Workload>()?
        .with_startup_delay_us(args.inject_startup_delay_us);
    let user = args.user.build(&workload)?;
    if user.is_some() {
        workload.mode = isolators::protocol::Mode::Exec;
    }
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        bail!(
            "--timeout {}: must be a positive number of seconds",
            args.timeout
        );
    }
    if !(args.budget.is_finite() && args.budget >= 0.0) {
        bail!(
            "--budget {}: must be a number of seconds (0 for no budget)",
            args.budget
        );
    }
    isobench::preflight::check_workload_fits(
        &workload,
        isobench::preflight::host_mem_total_bytes(),
    )
    .map_err(anyhow::Error::msg)?;
    let options = IsolatorOptions {
        user: user.clone(),
        ..registry_options(&args.engines)
    };
    let isolators = select::for_run(&args.isolators, &options)?;
    exports::check_writable(&args.exports)?;
    let run_dir = RunDir::claim(args.out.as_deref(), "", args.force, "--out")?;
    let out_dir = run_dir.path();
    let mut run_files = RunFiles::create(out_dir)?;

    let stop = interrupt_flag()?;
    isobench::guest_kernel::ensure(&isolators, &options, &|line| eprintln!("{line}"));

    let host = Host::detect();
    let versions = isolators
        .iter()
        .map(|i| (i.name().to_string(), i.describe().version))
        .collect();
    let fingerprint = fingerprint::fingerprint(&host, versions);
    let run_options = RunOptions {
        runs: args.runs,
        warmup: args.warmup,
        workload,
        timeout: match &user {
            Some(_) => args
                .user
                .trial_timeout(Duration::from_secs_f64(args.timeout)),
            None => Duration::from_secs_f64(args.timeout),
        },
        budget: (args.budget > 0.0).then(|| Duration::from_secs_f64(args.budget)),
        host_cost: (args.host_batch > 0).then_some(isobench::host_cost::HostCostPlan {
            batch: args.host_batch,
            repeats: args.host_repeats,
        }),
        user_workload: user.as_deref().map(user_args::record),
    };
    let progress = progress::Bar::new();
    let json_path = out_dir.join("run.json");
    let run_started = std::time::Instant::now();
    let mut record = runner::run(
        isolators,
        &host,
        fingerprint,
        &run_options,
        &stop,
        &progress,
        &mut run_files,
    )?;
    progress.finish();
    run_files.sync()?;

    // Every sample is in the log: run.json and run.csv stream them from it, the other
    // renderers get at most CHART_SAMPLES per isolator, so memory stays bounded.
    let log = run_files.samples_log();
    log.load_spread(&mut record, reports::samples::CHART_SAMPLES)
        .context("cannot read the samples log back")?;
    exports::write_run_files(out_dir, &record, &log)?;
    exports::write_requested(&args.exports, &record, &log)?;
    print!("{}", exports::terminal(&record));
    if args.exports.phases {
        print!("{}", reports::phases::render(&record));
    }
    eprintln!(
        "results: {} (the run took {})",
        out_dir.display(),
        reports::units::duration_words(run_started.elapsed())
    );
    let failures = record::trial_failures(&record);
    for line in &failures.lines {
        eprintln!("isobench: {line}");
    }
    if !record.complete {
        eprintln!(
            "isobench: the run was interrupted; {} holds what finished",
            json_path.display()
        );
        return Ok(interrupt::exit_code());
    }
    let prepare_failed = record::prepare_failures(&record);
    if let Some(line) = &prepare_failed {
        eprintln!("{line}");
    }
    if !failures.without_samples.is_empty() {
        eprintln!(
            "isobench: no samples, every trial failed: {}",
            failures.without_samples.join(", ")
        );
    }
    match prepare_failed.is_some() || !failures.without_samples.is_empty() {
        true => Ok(ExitCode::FAILURE),
        false => Ok(ExitCode::SUCCESS),
    }
}

fn report(args: &ReportArgs) -> Result<ExitCode> {
    let mut record = reports::RunRecord::load(Path::new(&args.run_json))?;
    // The renderers get the same bounded subset as at the end of a run; the files every sample.
    let every_sample =
        reports::samples::Kept::take_from(&mut record, reports::samples::CHART_SAMPLES);
    exports::write_requested(&args.exports, &record, &every_sample)?;
    if record.has_trials() || record.burst.is_empty() {
        print!("{}", exports::terminal(&record));
    }
    print!("{}", reports::burst::render(&record));
    if args.exports.phases {
        print!("{}", reports::phases::render(&record));
    }
    Ok(ExitCode::SUCCESS)
}

fn compare(args: &CompareArgs) -> Result<ExitCode> {
    let load = |paths: &[PathBuf]| -> Result<Vec<reports::RunRecord>> {
        Ok(distinct_runs(paths)
            .iter()
            .map(|path| reports::RunRecord::load(path))
            .collect::<Result<Vec<_>, _>>()?)
    };
    let (base, new) = (load(&args.base)?, load(&args.new)?);
    let comparisons = isobench::compare::compare(&base, &new, args.threshold / 100.0);
    if comparisons.is_empty() {
        bail!(
            "{} and {} share no isolator with samples, density point or burst point; nothing to compare",
            display_paths(&args.base),
            display_paths(&args.new)
        );
    }
    let caveats = isobench::compare::caveats(&base, &new, &comparisons, args.threshold / 100.0);
    print!("{}", reports::compare::render(&caveats, &comparisons));
    if let Some(limit) = args.fail_on_regression {
        let regressions = isobench::compare::regressions(&comparisons, limit / 100.0);
        if !regressions.is_empty() {
            let names: Vec<String> = regressions
                .iter()
                .map(|c| format!("{} {} {:+.1}%", c.isolator, c.metric, c.change * 100.0))
                .collect();
            eprintln!("isobench: regression beyond {limit}%: {}", names.join(", "));
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `paths` without a results file named twice on one side (by canonical path, so `a/run.json`,
/// `./a/run.json` and `a` are one run): pooling one run twice would count it as two, and
/// narrow the confidence intervals it has not earned. Each one dropped is noted on stderr.
fn distinct_runs(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut seen: Vec<(PathBuf, &PathBuf)> = Vec::new();
    let mut kept = Vec::new();
    for path in paths {
        let Ok(canonical) = reports::schema::results_file(path).and_then(|file| {
            file.canonicalize()
                .map_err(|source| reports::LoadError::Io {
                    path: file.display().to_string(),
                    source,
                })
        }) else {
            // Loading it will say what is wrong.
            kept.push(path.clone());
            continue;
        };
        match seen.iter().find(|(c, _)| *c == canonical) {
            Some((_, first)) => eprintln!(
                "isobench: note: {} is listed twice on one side (as {}); counted once",
                canonical.display(),
                first.display()
            ),
            None => {
                seen.push((canonical, path));
                kept.push(path.clone());
            }
        }
    }
    kept
}

fn display_paths(paths: &[PathBuf]) -> String {
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    names.join(",")
}

/// A flag that Ctrl-C (or SIGTERM, SIGHUP) sets; the work in flight finishes, cleans up and
/// is written.
fn interrupt_flag() -> Result<Arc<AtomicBool>> {
    interrupt::flag()
}

/// The error and its causes on one line, each cause once: our error messages already quote
/// the OS error they wrap, so `{:#}` alone would print it twice.
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}
