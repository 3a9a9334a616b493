//! runsc (gVisor): the probe's system calls go to a user-space kernel (the Sentry), not the
//! host's. Runs with `--network=none` (no netstack set-up) and, by default, `--platform=ptrace`:
//! the KVM platform needs hardware KVM and hangs on software KVM. `ISOBENCH_RUNSC_PLATFORM`
//! (ptrace, kvm or systrap) picks another platform. An instance is the `runsc run` we spawn,
//! the gofer, the sandbox (Sentry) and its ptrace stubs, all below the runsc we spawn.
use super::bundle::OciChannel;
use super::isolator::{OciIsolator, OciProfile};
use super::runtime::Flavor;
use crate::external::engine::EngineSpec;
use crate::isolator::{KernelKind, Kind};
use crate::kvm::KvmAccess;
use crate::options::IsolatorOptions;

/// The environment variable that selects gVisor's platform.
pub const PLATFORM_ENV: &str = "ISOBENCH_RUNSC_PLATFORM";
/// The platform used when [`PLATFORM_ENV`] is unset: the only one that works everywhere.
pub const DEFAULT_PLATFORM: &str = "ptrace";
/// Platforms runsc knows (systrap since 2023).
const KNOWN_PLATFORMS: [&str; 3] = ["ptrace", "kvm", "systrap"];

/// The runsc isolator with the platform from `ISOBENCH_RUNSC_PLATFORM` (default ptrace).
pub fn runsc(options: &IsolatorOptions) -> OciIsolator {
    let platform = std::env::var(PLATFORM_ENV)
        .ok()
        .filter(|p| !p.trim().is_empty());
    runsc_on(options, platform.as_deref().unwrap_or(DEFAULT_PLATFORM))
}

/// The runsc isolator on an explicit gVisor platform.
pub fn runsc_on(options: &IsolatorOptions, platform: &str) -> OciIsolator {
    let platform = platform.trim();
    let mut notes = vec![
        format!("--platform={platform} (choose with {PLATFORM_ENV}=ptrace|kvm|systrap)"),
        "--network=none".into(),
    ];
    let host_problem = platform_problem(platform, &KvmAccess::detect());
    if platform == DEFAULT_PLATFORM {
        notes[0].push_str("; the KVM platform needs hardware KVM");
    }
    let profile = OciProfile {
        engine: EngineSpec {
            name: "runsc",
            program: "runsc",
            install_hint: "apt-get install runsc",
            version_marker: "runsc version",
        },
        kind: Kind::Sandbox,
        kernel: KernelKind::Userspace,
        boundary: format!(
            "user-space kernel (gVisor Sentry, {platform} platform) + gofer + namespaces + cgroup"
        ),
        flavor: Flavor {
            global_args: vec!["--network=none".into(), format!("--platform={platform}")],
            hide_unified: None,
            // runsc 2022 has no --preserve-fds for `run`: the probe talks over stdio.
            channel: OciChannel::Stdio,
        },
        notes,
        host_problem,
    };
    OciIsolator::new(profile, options)
}

/// Why `platform` cannot run here, if it cannot.
fn platform_problem(platform: &str, kvm: &KvmAccess) -> Option<String> {
    if !KNOWN_PLATFORMS.contains(&platform) {
        return Some(format!(
            "{PLATFORM_ENV}={platform:?} is not a gVisor platform — use ptrace, kvm or systrap (or unset it for ptrace)"
        ));
    }
    if platform != "kvm" {
        return None;
    }
    if let Some(problem) = &kvm.problem {
        return Some(format!("runsc --platform=kvm: {problem}"));
    }
    kvm.is_software().then(|| {
        format!(
            "runsc --platform=kvm hangs when /dev/kvm is {} — unset {PLATFORM_ENV} to use ptrace",
            kvm.provider
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kvm::KvmProvider;

    fn kvm(provider: KvmProvider, problem: Option<&str>) -> KvmAccess {
        KvmAccess {
            provider,
            problem: problem.map(str::to_string),
        }
    }

    #[test]
    fn unknown_platform_is_one_clear_line() {
        let hardware = kvm(
            KvmProvider::Hardware {
                extension: "vmx".into(),
            },
            None,
        );
        let problem = platform_problem("fast", &hardware).unwrap();
        assert!(
            problem.contains("\"fast\" is not a gVisor platform"),
            "{problem}"
        );
        assert!(!problem.contains('\n'));
        assert_eq!(platform_problem("ptrace", &hardware), None);
        assert_eq!(platform_problem("kvm", &hardware), None);
    }

    #[test]
    fn kvm_platform_needs_usable_hardware_kvm() {
        let software = kvm(
            KvmProvider::Software {
                module: "kvm_pvm".into(),
            },
            None,
        );
        assert!(platform_problem("kvm", &software)
            .unwrap()
            .contains("hangs when /dev/kvm is software (kvm_pvm)"));
        assert_eq!(platform_problem("ptrace", &software), None);
        let missing = kvm(KvmProvider::Unknown, Some("/dev/kvm: not found"));
        assert!(platform_problem("kvm", &missing)
            .unwrap()
            .contains("/dev/kvm: not found"));
    }

    #[test]
    fn platform_reaches_the_command_line_and_notes() {
        let isolator = runsc_on(&IsolatorOptions::default(), "systrap");
        let description = crate::isolator::Isolator::describe(&isolator);
        assert!(
            description.boundary.contains("systrap platform"),
            "{description:?}"
        );
        assert!(
            description.notes[0].starts_with("--platform=systrap"),
            "{description:?}"
        );
    }
}
