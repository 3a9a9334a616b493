//! Test gating for tests that need an external program (a copy of the isolators crate's rule:
//! reports must not depend on it).

/// The capability gate (a copy of the isolators crate's rule: reports must not depend on it).
/// Returns true when the capability is present; otherwise prints `SKIP`, and panics if the
/// environment variable ISOBENCH_REQUIRE names the capability or `all`.
pub fn run_if(test: &str, capability: &str, check: Result<(), String>) -> bool {
    let required = std::env::var("ISOBENCH_REQUIRE").is_ok_and(|list| {
        list.split(',')
            .map(str::trim)
            .any(|item| item == "all" || item == capability)
    });
    match check {
        Ok(()) => true,
        Err(reason) if required => {
            panic!("{test}: ISOBENCH_REQUIRE includes {capability:?} but: {reason}")
        }
        Err(reason) => {
            eprintln!("SKIP {test}: needs {capability}: {reason}");
            false
        }
    }
}
