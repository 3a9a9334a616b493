//! unshare and bwrap adapters: a full lifecycle each, a launch that never gets ready, and the
//! availability messages for missing or wrong engine binaries.
mod external_support;

use std::path::PathBuf;

use isolators::external::rootfs::bwrap::BwrapIsolator;
use isolators::external::rootfs::unshare::UnshareIsolator;
use isolators::registry::IsolatorOptions;
use isolators::testing::{check_on_path, check_root, run_if};
use isolators::{Availability, Host, Isolator};

fn with_engine(name: &str, path: &str) -> IsolatorOptions {
    let mut options = IsolatorOptions::default();
    options
        .engine_paths
        .insert(name.to_string(), PathBuf::from(path));
    options
}

/// bwrap outside, bwrap as PID 1 of the new pid namespace (it reaps), and the probe.
const BWRAP_PROCESSES: u32 = 3;

#[test]
fn unshare_lifecycle() {
    if !run_if("unshare_lifecycle", "root", check_root())
        || !run_if("unshare_lifecycle", "unshare", check_on_path("unshare"))
    {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let isolator = UnshareIsolator::new(&IsolatorOptions::default());
    // unshare --fork waits for its child, the probe.
    let (startup_ns, _) = external_support::lifecycle(&isolator, scratch.path(), 2);
    eprintln!("unshare startup {} µs", startup_ns / 1000);
    external_support::never_ready_cleans_up(&isolator, scratch.path());
    external_support::probe_never_ready_cleans_up(&isolator, scratch.path());
    external_support::io_lifecycle(&isolator, scratch.path());
}

#[test]
fn bwrap_lifecycle() {
    if !run_if("bwrap_lifecycle", "root", check_root())
        || !run_if("bwrap_lifecycle", "bwrap", check_on_path("bwrap"))
    {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let isolator = BwrapIsolator::new(&IsolatorOptions::default());
    let (startup_ns, _) = external_support::lifecycle(&isolator, scratch.path(), BWRAP_PROCESSES);
    eprintln!("bwrap startup {} µs", startup_ns / 1000);
    external_support::never_ready_cleans_up(&isolator, scratch.path());
    external_support::probe_never_ready_cleans_up(&isolator, scratch.path());
    external_support::io_lifecycle(&isolator, scratch.path());
}

#[test]
fn wrong_binary_is_named_in_the_reason() {
    let isolator = BwrapIsolator::new(&with_engine("bwrap", "/bin/true"));
    let host = Host::detect();
    match isolator.availability(&host) {
        Availability::Unavailable { reason } => {
            assert!(reason.contains("/bin/true is not bwrap"), "{reason}")
        }
        Availability::Available => panic!("/bin/true accepted as bwrap"),
    }
}

#[test]
fn missing_binary_says_how_to_get_it() {
    let isolator = UnshareIsolator::new(&with_engine("unshare", "/nonexistent/unshare"));
    let reason = match isolator.availability(&Host::detect()) {
        Availability::Unavailable { reason } => reason,
        Availability::Available => panic!("a missing path is available?"),
    };
    assert!(reason.contains("/nonexistent/unshare"), "{reason}");
}
