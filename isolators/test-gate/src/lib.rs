//! Test gating shared by every crate's tests: a test that needs root, /dev/kvm, cgroups or a
//! peer engine says why it skips, and fails instead when `ISOBENCH_REQUIRE` asks for that
//! capability (as CI does). Its own crate so that `reports` and `isobench-vmm`, which must not
//! depend on `isolators`, use the same rule.
//!
//! `ISOBENCH_REQUIRE` is a comma-separated list of capability names (`root`, `kvm`, `cgroup`,
//! `runc`, `docker`, `nested`, …) or `all`.
//!
//! Skip lines go straight to the process's stderr, not through `eprintln!`: libtest captures
//! `eprintln!` and shows it only for failing tests, so a skipped test would look like a pass.

use std::io::Write;

/// True when `ISOBENCH_REQUIRE` names `capability` (or is `all`).
pub fn required(capability: &str) -> bool {
    std::env::var("ISOBENCH_REQUIRE").is_ok_and(|list| {
        list.split(',')
            .map(str::trim)
            .any(|item| item == "all" || item == capability)
    })
}

/// Returns true when the test may run. When `check` is an error, prints
/// `SKIP <test>: needs <capability>: <reason>` and returns false, or panics if the capability
/// is required.
pub fn run_if(test: &str, capability: &str, check: Result<(), String>) -> bool {
    run_if_to(&mut std::io::stderr(), test, capability, check)
}

/// Prints `SKIP <test>: <reason>` where `cargo test` shows it, for a test that does not apply
/// to this host's shape (a cgroup layout, a KVM kind) rather than lacking a capability.
pub fn skip(test: &str, reason: &str) {
    // A lost skip line is not worth failing a test over.
    let _ = writeln!(std::io::stderr(), "SKIP {test}: {reason}");
}

fn run_if_to(out: &mut dyn Write, test: &str, capability: &str, check: Result<(), String>) -> bool {
    match check {
        Ok(()) => true,
        Err(reason) if required(capability) => {
            panic!("{test}: ISOBENCH_REQUIRE includes {capability:?} but: {reason}")
        }
        Err(reason) => {
            // A lost skip line is not worth failing a test over.
            let _ = writeln!(out, "SKIP {test}: needs {capability}: {reason}");
            false
        }
    }
}

/// `Ok` when running as root.
pub fn check_root() -> Result<(), String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    match unsafe { libc::geteuid() } {
        0 => Ok(()),
        _ => Err("not running as root".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One test, so no other test of this binary sees the variable it sets.
    #[test]
    fn skips_with_a_reason_unless_the_capability_is_required() {
        let saved = std::env::var_os("ISOBENCH_REQUIRE");
        std::env::set_var("ISOBENCH_REQUIRE", "root, kvm");
        assert!(required("kvm") && required("root") && !required("docker"));
        let mut printed = Vec::new();
        assert!(run_if_to(&mut printed, "t", "docker", Ok(())));
        assert!(printed.is_empty(), "a test that runs prints nothing");
        assert!(!run_if_to(
            &mut printed,
            "t",
            "docker",
            Err("absent".into())
        ));
        assert_eq!(
            String::from_utf8(printed).unwrap(),
            "SKIP t: needs docker: absent\n"
        );
        let failed = std::panic::catch_unwind(|| {
            run_if_to(&mut Vec::new(), "t", "kvm", Err("absent".into()))
        });
        assert!(failed.is_err(), "a required capability fails the test");
        std::env::set_var("ISOBENCH_REQUIRE", "all");
        assert!(required("anything"));
        match saved {
            Some(value) => std::env::set_var("ISOBENCH_REQUIRE", value),
            None => std::env::remove_var("ISOBENCH_REQUIRE"),
        }
    }
}
