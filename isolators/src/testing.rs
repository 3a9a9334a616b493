//! Test gating: a test that needs root, /dev/kvm, cgroups or a peer engine says why it skips,
//! and fails instead when `ISOBENCH_REQUIRE` asks for that capability (as CI does).
//!
//! `ISOBENCH_REQUIRE` is a comma-separated list of capability names (`root`, `kvm`, `cgroup`,
//! `runc`, `docker`, `nested`, …) or `all`.

/// True when `ISOBENCH_REQUIRE` names `capability` (or is `all`).
pub fn required(capability: &str) -> bool {
    std::env::var("ISOBENCH_REQUIRE").is_ok_and(|list| {
        list.split(',')
            .map(str::trim)
            .any(|item| item == "all" || item == capability)
    })
}

/// Returns true when the test may run. When `check` is an error, prints
/// `SKIP <test>: <reason>` and returns false, or panics if the capability is required.
pub fn run_if(test: &str, capability: &str, check: Result<(), String>) -> bool {
    match check {
        Ok(()) => true,
        Err(reason) if required(capability) => {
            panic!("{test}: ISOBENCH_REQUIRE includes {capability:?} but: {reason}")
        }
        Err(reason) => {
            eprintln!("SKIP {test}: needs {capability}: {reason}");
            false
        }
    }
}

/// `Ok` when running as root.
pub fn check_root() -> Result<(), String> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err("not running as root".into())
    }
}

/// `Ok` when `program` is on PATH.
pub fn check_on_path(program: &str) -> Result<(), String> {
    which(program)
        .map(|_| ())
        .ok_or_else(|| format!("{program} is not on PATH"))
}

/// Looks `program` up on PATH.
pub fn which(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}
