//! `cargo bench`: launch → ready of every available isolator, with the CLI's own trial code.
//!
//! Flat sampling with `iter_custom`: each iteration is one whole instance (launch, ready,
//! release, gone) but only launch → ready is timed. Unavailable isolators print why and are
//! skipped. Narrow the set with ISOBENCH_BENCH_ISOLATORS=process,container,….
//!
//! Ctrl-C (or SIGTERM) lets the launch in flight finish and tear down, then removes the
//! prepared isolator and its scratch dir and exits with status 130: nothing is left behind.
//!
//! At the end it prints how the built-in launchers compare with the peers measured in the
//! same `cargo bench`: the container against every other container and sandbox, the microVM
//! against every other VMM, as ratios of medians (below 1 = ours is faster).
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};
use isobench::trial::time_startup;
use isolators::registry::{self, IsolatorOptions};
use isolators::{Availability, Host, Kind, Prepared, Workload};

const TRIAL_TIMEOUT: Duration = Duration::from_secs(30);
/// Samples per isolator. In flat mode criterion calls the `iter_custom` routine once per
/// sample after its warm-up calls, so the last `SAMPLES` calls are the measured ones.
const SAMPLES: usize = 20;

/// Set by Ctrl-C or SIGTERM; checked between launches.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Drops what is prepared (its cleanup runs) and exits 130, when Ctrl-C was pressed.
fn exit_if_interrupted(prepared: &mut Option<Prepared>) {
    if INTERRUPTED.load(Ordering::SeqCst) {
        drop(prepared.take());
        eprintln!("isobench: interrupted; the isolator in flight was cleaned up");
        std::process::exit(130);
    }
}

fn startup(c: &mut Criterion) {
    // Criterion draws its HTML charts with plotters, which has no system fonts to fall back on.
    reports::fonts::register();
    ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst))
        .expect("installing the Ctrl-C handler");
    let host = Host::detect();
    let wanted: Option<Vec<String>> = std::env::var("ISOBENCH_BENCH_ISOLATORS")
        .ok()
        .map(|list| list.split(',').map(str::to_string).collect());
    let mut group = c.benchmark_group("startup");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(SAMPLES)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    let mut measured: Vec<Measured> = Vec::new();
    for isolator in registry::all(&IsolatorOptions::default()) {
        let name = isolator.name().to_string();
        if wanted.as_ref().is_some_and(|w| !w.contains(&name)) {
            continue;
        }
        if let Availability::Unavailable { reason } = isolator.availability(&host) {
            eprintln!("SKIP startup/{name}: {reason}");
            continue;
        }
        let prepared = match Prepared::new(isolator.as_ref(), &Workload::noop()) {
            Ok(prepared) => prepared,
            Err(error) => {
                eprintln!("SKIP startup/{name}: prepare failed: {error}");
                continue;
            }
        };
        let kind = isolator.kind();
        if host.kvm.is_software() && kind == isolators::Kind::Microvm {
            eprintln!("NOTE startup/{name}: /dev/kvm is software (kvm_pvm) here; VM timings do not reflect hardware virtualization");
        }
        let mut prepared = Some(prepared);
        // One batch of launch → ready times per routine call, warm-up calls included.
        let mut batches: Vec<Vec<f64>> = Vec::new();
        group.bench_function(&name, |b| {
            b.iter_custom(|iterations| {
                let mut batch = Vec::with_capacity(iterations as usize);
                let total = (0..iterations)
                    .map(|_| {
                        exit_if_interrupted(&mut prepared);
                        let launcher = prepared.as_mut().expect("kept until the end");
                        let took = time_startup(launcher, TRIAL_TIMEOUT)
                            .unwrap_or_else(|e| panic!("startup/{name}: {e}"));
                        batch.push(took.as_nanos() as f64);
                        took
                    })
                    .sum();
                batches.push(batch);
                total
            })
        });
        let first_measured = batches.len().saturating_sub(SAMPLES);
        let mut times_ns: Vec<f64> = batches.drain(first_measured..).flatten().collect();
        measured.push(Measured {
            kind,
            median_ns: median(&mut times_ns),
            name,
        });
        drop(prepared);
        exit_if_interrupted(&mut None);
    }
    group.finish();
    print!("{}", ratios(&measured));
}

/// One isolator's median launch → ready over the iterations of its measured samples.
struct Measured {
    name: String,
    kind: Kind,
    median_ns: f64,
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// "ours vs each peer" lines for the built-in container and microVM launchers.
fn ratios(measured: &[Measured]) -> String {
    let mut out = String::new();
    for (ours, peer_kinds) in [
        ("container", &[Kind::Container, Kind::Sandbox][..]),
        ("microvm", &[Kind::Microvm][..]),
    ] {
        let Some(own) = measured.iter().find(|m| m.name == ours) else {
            continue;
        };
        let peers: Vec<String> = measured
            .iter()
            .filter(|m| m.name != ours && peer_kinds.contains(&m.kind))
            .map(|m| format!("{} {:.2}×", m.name, own.median_ns / m.median_ns))
            .collect();
        if peers.is_empty() {
            out += &format!(
                "isobench: {ours} median {:.2} ms; no peer measured in this run\n",
                own.median_ns / 1e6
            );
        } else {
            out += &format!(
                "isobench: {ours} median {:.2} ms, ratio to peers measured in this run (below 1 = faster): {}\n",
                own.median_ns / 1e6,
                peers.join(", ")
            );
        }
    }
    out
}

criterion_group!(benches, startup);
criterion_main!(benches);
