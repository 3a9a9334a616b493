//! `cargo bench`: launch → ready of every available isolator, with the CLI's own trial code.
//!
//! Flat sampling with `iter_custom`: each iteration is one whole instance (launch, ready,
//! release, gone) but only launch → ready is timed. Unavailable isolators print why and are
//! skipped. Narrow the set with ISOBENCH_BENCH_ISOLATORS=process,container,….
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};
use isobench::trial::time_startup;
use isolators::registry::{self, RegistryOptions};
use isolators::{Availability, Host, Workload};

const TRIAL_TIMEOUT: Duration = Duration::from_secs(30);

fn startup(c: &mut Criterion) {
    // Criterion draws its HTML charts with plotters, which has no system fonts to fall back on.
    reports::fonts::register();
    let host = Host::detect();
    let wanted: Option<Vec<String>> = std::env::var("ISOBENCH_BENCH_ISOLATORS")
        .ok()
        .map(|list| list.split(',').map(str::to_string).collect());
    let mut group = c.benchmark_group("startup");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for mut isolator in registry::all(&RegistryOptions::default()) {
        let name = isolator.name().to_string();
        if wanted.as_ref().is_some_and(|w| !w.contains(&name)) {
            continue;
        }
        if let Availability::Unavailable { reason } = isolator.availability(&host) {
            eprintln!("SKIP startup/{name}: {reason}");
            continue;
        }
        let scratch = tempfile::Builder::new()
            .prefix(&format!("isobench-bench-{name}-"))
            .tempdir()
            .expect("a scratch dir in TMPDIR");
        if let Err(error) = isolator.prepare(&Workload::noop(), scratch.path()) {
            eprintln!("SKIP startup/{name}: prepare failed: {error}");
            continue;
        }
        if host.kvm.is_software() && isolator.kind() == isolators::Kind::Microvm {
            eprintln!("NOTE startup/{name}: /dev/kvm is software (kvm_pvm) here; VM timings do not reflect hardware virtualization");
        }
        group.bench_function(&name, |b| {
            b.iter_custom(|iterations| {
                (0..iterations)
                    .map(|_| {
                        time_startup(isolator.as_mut(), TRIAL_TIMEOUT)
                            .unwrap_or_else(|e| panic!("startup/{name}: {e}"))
                    })
                    .sum()
            })
        });
        drop(isolator);
        drop(scratch);
    }
    group.finish();
}

criterion_group!(benches, startup);
criterion_main!(benches);
