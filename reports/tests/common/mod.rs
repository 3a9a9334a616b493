//! Test fixture: a synthetic but realistically shaped RunRecord (FIXTURE numbers, not measurements).
#![allow(dead_code)]

use std::collections::BTreeMap;

use reports::schema::*;

mod density;
mod host;
mod summary;
mod vms;

use density::density;
#[allow(unused_imports)] // only the host-cost tests name them
pub use density::MICROVM_DISTURBED;
#[allow(unused_imports)]
pub use host::RUNSC_DISTURBED;
pub use summary::summarize;
#[allow(unused_imports)] // only the tier tests build VM rows
pub use vms::{vm_row, with_vms};

/// A schema word (kind, kernel, flag, warning code …) from its JSON spelling.
pub fn word<T: serde::de::DeserializeOwned>(text: &str) -> T {
    serde_json::from_value(text.into()).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// Deterministic pseudo-random numbers in 0..1 (a 64-bit LCG), so snapshots are stable.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// How one fixture isolator behaves.
struct Spec {
    name: &'static str,
    kind: &'static str,
    kernel: &'static str,
    boundary: &'static str,
    startup_ns: f64,
    teardown_ns: f64,
    pss_bytes: u64,
    kernel_bytes: Option<u64>,
    /// (guest RAM resident, VMM overhead) for VMs.
    vm: Option<(u64, u64)>,
    disk: (u64, u64),
    phases: &'static [(&'static str, f64)],
    flags: &'static [&'static str],
    notes: &'static [&'static str],
    /// A VM booting a Linux kernel (else a microvm boots the bare guest).
    linux: bool,
    /// No hardware virtualization (QEMU TCG).
    emulated: bool,
}

impl Spec {
    fn guest(&self) -> GuestKind {
        match (self.kind, self.linux) {
            ("microvm", true) => GuestKind::Linux,
            ("microvm", false) => GuestKind::Bare,
            _ => GuestKind::None,
        }
    }
}

const MIB: u64 = 1024 * 1024;

fn specs(large: bool) -> Vec<Spec> {
    let spec = |name, kind, kernel, boundary, startup_ns, teardown_ns, pss_bytes| Spec {
        name,
        kind,
        kernel,
        boundary,
        startup_ns,
        teardown_ns,
        pss_bytes,
        kernel_bytes: Some(180 * 1024),
        vm: None,
        disk: (0, 620 * 1024),
        phases: &[],
        flags: &[],
        notes: &[],
        linux: false,
        emulated: false,
    };
    let mut all = vec![
        Spec { kernel_bytes: None, phases: &[("spawned", 0.6)], ..spec("process", "process", "shared", "none: an ordinary process", 450e3, 120e3, 96 * 1024) },
        Spec { phases: &[("cloned", 0.35), ("pivoted", 0.6), ("exec", 0.8)], ..spec("container", "container", "shared", "namespaces + cgroup", 2.1e6, 1.4e6, 160 * 1024) },
        Spec { disk: (11 * MIB, 620 * 1024), ..spec("runc", "container", "shared", "namespaces + cgroup", 38e6, 21e6, 2 * MIB) },
        Spec {
            disk: (3 * MIB, 620 * 1024),
            notes: &["workaround: runs with --no-pivot because pivot_root <on \"tmpfs\"> & nested mounts is refused here"],
            ..spec("crun", "container", "shared", "namespaces + cgroup", 19e6, 11e6, 1200 * 1024)
        },
        Spec { disk: (58 * MIB, 620 * 1024), ..spec("runsc", "sandbox", "userspace", "gVisor Sentry (user-space kernel) + seccomp", 310e6, 95e6, 48 * MIB) },
        Spec {
            vm: Some((9 * MIB, 5 * MIB)),
            disk: (4 * MIB, 8 * MIB),
            phases: &[("vm-created", 0.05), ("kernel-loaded", 0.15), ("guest-init", 0.85)],
            flags: &["software-kvm"],
            ..spec("microvm", "microvm", "own", "KVM virtual machine (our VMM)", 95e6, 8e6, 14 * MIB)
        },
        Spec {
            vm: Some((22 * MIB, 31 * MIB)),
            disk: (96 * MIB, 8 * MIB),
            flags: &["software-kvm"],
            ..spec("qemu-microvm", "microvm", "own", "KVM virtual machine (QEMU microvm)", 420e6, 40e6, 53 * MIB)
        },
        Spec { disk: (142 * MIB, 7 * MIB), ..spec("docker", "container", "shared", "namespaces + cgroup (via dockerd, containerd, runc)", 610e6, 350e6, 9 * MIB) },
        Spec {
            vm: Some((46 * MIB, 38 * MIB)),
            disk: (96 * MIB, 15 * MIB),
            phases: &[("kernel-start", 0.3), ("init", 0.85), ("ready", 1.0)],
            flags: &["emulated"],
            linux: true,
            emulated: true,
            ..spec("qemu-tcg", "microvm", "own", "own guest kernel (Linux, the probe as /init) + QEMU TCG emulation, no hardware virtualization; VMM: qemu -M microvm", 4.1e9, 60e6, 84 * MIB)
        },
    ];
    if large {
        all.extend([
            spec(
                "bwrap",
                "container",
                "shared",
                "namespaces (bubblewrap)",
                3.5e6,
                1.1e6,
                400 * 1024,
            ),
            spec(
                "unshare",
                "container",
                "shared",
                "namespaces (util-linux unshare)",
                2.9e6,
                0.9e6,
                300 * 1024,
            ),
            Spec {
                disk: (75 * MIB, 7 * MIB),
                ..spec(
                    "podman",
                    "container",
                    "shared",
                    "namespaces + cgroup (via conmon, crun)",
                    280e6,
                    190e6,
                    6 * MIB,
                )
            },
            Spec {
                vm: Some((20 * MIB, 6 * MIB)),
                disk: (5 * MIB, 8 * MIB),
                phases: &[("cloud-hypervisor+guest boot", 1.0)],
                flags: &["software-kvm"],
                ..spec(
                    "cloud-hypervisor",
                    "microvm",
                    "own",
                    "KVM virtual machine (Cloud Hypervisor)",
                    180e6,
                    15e6,
                    26 * MIB,
                )
            },
        ]);
    }
    all
}

/// The fixture record: `runs` trials of every isolator, firecracker unavailable, density results.
pub fn record(runs: u32, large: bool) -> RunRecord {
    let mut rng = Lcg(0x15_0BE7C4);
    let specs = specs(large);
    let mut isolators: Vec<IsolatorRecord> = specs
        .iter()
        .enumerate()
        .map(|(index, s)| isolator(s, index, runs, specs.len(), &mut rng))
        .collect();
    let baseline = isolators[0]
        .summary
        .as_ref()
        .map(|s| s.footprint_bytes.median)
        .unwrap_or(0.0);
    for isolator in &mut isolators {
        for sample in &mut isolator.samples {
            sample.memory_overhead_bytes =
                Some(sample.memory.footprint_bytes as i64 - baseline as i64);
        }
        let overheads: Vec<f64> = isolator
            .samples
            .iter()
            .map(|s| s.memory_overhead_bytes.unwrap_or(0) as f64)
            .collect();
        if let Some(summary) = &mut isolator.summary {
            summary.memory_overhead_bytes = summarize(&overheads);
        }
    }
    let host_warnings = host::add(&mut isolators);
    isolators.push(IsolatorRecord {
        name: "firecracker".into(),
        kind: Kind::Microvm,
        kernel: KernelKind::Own,
        guest: Some(GuestKind::Bare),
        emulated: false,
        warm_start: false,
        boundary: "KVM virtual machine (Firecracker)".into(),
        version: String::new(),
        notes: vec![],
        status: Status::Unavailable {
            reason:
                "firecracker not found on PATH — install it from the GitHub release and put it on PATH"
                    .into(),
        },
        disk: None,
        samples: vec![],
        failures: vec![],
        summary: None,
        flags: vec![],
        host_cost: None,
    });
    let names: Vec<String> = isolators.iter().map(|i| i.name.clone()).collect();
    let mut warnings = vec![
        Warning { code: WarningCode::SoftwareKvm, isolator: Some("microvm".into()), message: "/dev/kvm is software KVM (kvm_pvm): VM timings are not representative of hardware virtualization".into() },
        Warning { code: WarningCode::Emulated, isolator: Some("qemu-tcg".into()), message: "qemu-tcg: no hardware virtualization: every guest instruction is emulated by QEMU's TCG; timings are not a KVM VM's".into() },
        Warning { code: WarningCode::NoisyHost, isolator: None, message: "1.40 tasks besides isobench were runnable on average between trials, on 2 cores: other work competed with the benchmark".into() },
        Warning { code: WarningCode::EngineWorkaround, isolator: Some("crun".into()), message: "crun runs with --no-pivot: pivot_root <on \"tmpfs\"> & nested mounts is refused here".into() },
    ];
    warnings.extend(host_warnings);
    if runs < 10 {
        warnings.push(Warning {
            code: WarningCode::TooFewRuns,
            isolator: None,
            message: format!(
                "only {runs} runs per isolator: confidence intervals are wide; use --runs 30"
            ),
        });
    }
    RunRecord {
        schema_version: SCHEMA_VERSION,
        isobench_version: "0.1.0".into(),
        git_revision: "fixture".into(),
        started_at: "2025-01-01T12:00:00Z".into(),
        updated_at: "2025-01-01T12:09:30Z".into(),
        complete: true,
        config: RunConfig {
            runs,
            warmup: 2,
            workload: Workload::noop(),
            timeout_ms: 30_000,
            order: Order::Interleaved,
            isolators: names,
            user_workload: None,
        },
        host: HostFingerprint {
            hostname: "fixture-host".into(),
            kernel: "6.1.0-28-amd64".into(),
            os: "Debian GNU/Linux 12 (bookworm)".into(),
            cpu_model: "FIXTURE CPU @ 2.20GHz".into(),
            cores: 2,
            memory_total_bytes: 8 * 1024 * MIB,
            cgroup_mode: CgroupMode::Hybrid,
            cgroup_detail: "v1 controllers + cgroup2 at /sys/fs/cgroup/unified".into(),
            kvm_provider: KvmProvider::Software,
            kvm_detail: "kvm_pvm module".into(),
            is_root: true,
            tool_versions: BTreeMap::from([
                ("crun".into(), "1.8.1".into()),
                ("docker".into(), "20.10.24".into()),
                ("runc".into(), "1.1.5".into()),
                ("runsc".into(), "release-20250101.0".into()),
            ]),
            loadavg_start: 0.31,
            loadavg_end: 1.92,
            other_runnable_mean: Some(1.4),
        },
        isolators,
        warnings,
        density: density(),
        samples_file: None,
        burst: Vec::new(),
    }
}

fn isolator(s: &Spec, index: usize, runs: u32, count: usize, rng: &mut Lcg) -> IsolatorRecord {
    let samples: Vec<Sample> = (0..runs)
        .map(|trial| {
            let mut vary = |base: f64, spread: f64| base * (1.0 + spread * (rng.next() - 0.3));
            let startup_ns = vary(s.startup_ns, 0.25) as u64;
            let kernel = s.kernel_bytes.map(|k| vary(k as f64, 0.05) as u64);
            let vm = s.vm.map(|(guest, vmm)| {
                (
                    vary(guest as f64, 0.03) as u64,
                    vary(vmm as f64, 0.03) as u64,
                )
            });
            let pss = match vm {
                Some((guest, vmm)) => guest + vmm - 200 * 1024,
                None => vary(s.pss_bytes as f64, 0.04) as u64,
            };
            Sample {
                trial,
                sequence: trial * count as u32 + index as u32,
                startup_ns,
                phases: s
                    .phases
                    .iter()
                    .map(|(name, at)| Phase {
                        name: name.to_string(),
                        at_ns: (startup_ns as f64 * at) as u64,
                    })
                    .collect(),
                memory: MemorySample {
                    usage: MemoryUsage {
                        pss_bytes: pss,
                        rss_bytes: pss + pss / 5,
                        pss_anon_bytes: Some(pss * 3 / 4),
                        processes: if s.kind == "process" { 1 } else { 2 },
                        cgroup_bytes: kernel.map(|k| k + pss),
                        cgroup_kernel_bytes: kernel,
                        kernel_not_measured: None,
                        kernel_estimate_bytes: None,
                        guest_ram_resident_bytes: vm.map(|v| v.0),
                        vmm_overhead_bytes: vm.map(|v| v.1),
                    },
                    footprint_bytes: pss + kernel.unwrap_or(0),
                },
                memory_overhead_bytes: None,
                teardown_ns: vary(s.teardown_ns, 0.3) as u64,
                cpu_ns: None,
                probe_report: [("work_ns", "1200")].into_iter().collect(),
            }
        })
        .collect();
    let metric = |f: fn(&Sample) -> f64| summarize(&samples.iter().map(f).collect::<Vec<_>>());
    let summary = metric(|s| s.startup_ns as f64).map(|startup_ns| {
        let mut phase_medians_ns = BTreeMap::new();
        for (name, _) in s.phases {
            let at: Vec<f64> = samples
                .iter()
                .flat_map(|x| &x.phases)
                .filter(|p| p.name == *name)
                .map(|p| p.at_ns as f64)
                .collect();
            phase_medians_ns.insert(name.to_string(), summarize(&at).map_or(0.0, |x| x.median));
        }
        IsolatorSummary {
            startup_ns,
            teardown_ns: metric(|s| s.teardown_ns as f64).expect("samples"),
            footprint_bytes: metric(|s| s.memory.footprint_bytes as f64).expect("samples"),
            memory_overhead_bytes: None,
            vmm_overhead_bytes: s.vm.and(metric(|s| {
                s.memory.usage.vmm_overhead_bytes.unwrap_or(0) as f64
            })),
            cpu_ns: None,
            phase_medians_ns,
        }
    });
    IsolatorRecord {
        name: s.name.into(),
        kind: word(s.kind),
        kernel: word(s.kernel),
        guest: Some(s.guest()),
        emulated: s.emulated,
        warm_start: false,
        boundary: s.boundary.into(),
        version: format!("{}-fixture", s.name),
        notes: s.notes.iter().map(|n| n.to_string()).collect(),
        status: Status::Available,
        disk: Some(DiskFootprint {
            runtime_apparent_bytes: s.disk.0,
            runtime_allocated_bytes: s.disk.0,
            image_apparent_bytes: s.disk.1,
            image_allocated_bytes: s.disk.1,
            runtime_files: vec![],
            image_files: vec![],
        }),
        samples,
        failures: if s.name == "docker" {
            vec![Failure {
                trial: 3,
                sequence: 31,
                message: "timed out after 30 s waiting for the ready line".into(),
            }]
        } else {
            vec![]
        },
        summary,
        flags: s.flags.iter().map(|f| word(f)).collect(),
        host_cost: None,
    }
}
