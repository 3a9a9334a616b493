//! How long the host takes to drop what a burst point created after every instance is gone:
//! counts of live and dying cgroups read before the point and polled after it (see
//! [`reports::HostSettle`] for what is and is not counted).
use std::path::Path;
use std::time::{Duration, Instant};

use isolators::monotonic_ns;
use reports::HostSettle;

/// The longest a point waits for the counts to come back.
pub const SETTLE_WAIT: Duration = Duration::from_secs(2);
const POLL: Duration = Duration::from_millis(5);

/// Cgroup counts at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Live + dying cgroups in every hierarchy but v1 memory.
    pub cgroups: u64,
    /// The v1 memory hierarchy's, live + dying (None on a host without one).
    pub memory_cgroups: Option<u64>,
}

/// Reads the counts now.
pub fn counts() -> Counts {
    let mut cgroups = 0;
    let mut memory_cgroups = None;
    let mut seen_hierarchies = Vec::new();
    // /proc/cgroups: subsys_name hierarchy num_cgroups enabled; hierarchy 0 is cgroup2's.
    let table = std::fs::read_to_string("/proc/cgroups").unwrap_or_default();
    for line in table.lines().filter(|l| !l.starts_with('#')) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(name), Some(Ok(hierarchy)), Some(Ok(count))) = (
            fields.first(),
            fields.get(1).map(|h| h.parse::<u32>()),
            fields.get(2).map(|n| n.parse::<u64>()),
        ) else {
            continue;
        };
        if hierarchy == 0 || seen_hierarchies.contains(&hierarchy) {
            continue;
        }
        seen_hierarchies.push(hierarchy);
        if *name == "memory" {
            memory_cgroups = Some(count);
        } else {
            cgroups += count;
        }
    }
    for root in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
        if let Some(v2) = cgroup2_descendants(Path::new(root)) {
            cgroups += v2;
            break;
        }
    }
    Counts {
        cgroups,
        memory_cgroups,
    }
}

/// `nr_descendants + nr_dying_descendants` of a cgroup2 root, when `root` is one.
fn cgroup2_descendants(root: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(root.join("cgroup.stat")).ok()?;
    let read = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.trim().parse::<u64>().ok())
    };
    Some(read("nr_descendants ")? + read("nr_dying_descendants ").unwrap_or(0))
}

/// Waits (at most [`SETTLE_WAIT`], less if `stop` is set) until the cgroup count is back at
/// `before`'s, from `gone_ns` (CLOCK_MONOTONIC) when the point's last instance was gone.
pub fn settle(before: Counts, gone_ns: u64, stop: &dyn Fn() -> bool) -> HostSettle {
    let started = Instant::now();
    let mut now = counts();
    let mut settled_ns = None;
    loop {
        if now.cgroups <= before.cgroups {
            settled_ns = Some(monotonic_ns().saturating_sub(gone_ns));
            break;
        }
        if started.elapsed() >= SETTLE_WAIT || stop() {
            break;
        }
        std::thread::sleep(POLL);
        now = counts();
    }
    HostSettle {
        cgroups_before: before.cgroups,
        cgroups_after: now.cgroups,
        cgroups_settle_ns: settled_ns,
        memory_cgroups_added: before
            .memory_cgroups
            .zip(now.memory_cgroups)
            .map(|(b, a)| a as i64 - b as i64),
        waited_ns: started.elapsed().as_nanos() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_settled_host_settles_at_once() {
        let now = counts();
        // Nothing of ours to wait for: back at (or below) a count read a moment ago, unless
        // another process on the host is creating cgroups right now.
        let far_above = Counts {
            cgroups: now.cgroups + 1_000_000,
            ..now
        };
        let settle = settle(far_above, monotonic_ns(), &|| false);
        assert!(settle.cgroups_settle_ns.is_some(), "{settle:?}");
        assert!(settle.waited_ns < SETTLE_WAIT.as_nanos() as u64);
        // Waiting for a count the host never reaches gives up, and says so; a stop cuts it short.
        let never = Counts { cgroups: 0, ..now };
        if now.cgroups > 0 {
            let gave_up = super::settle(never, monotonic_ns(), &|| true);
            assert_eq!(gave_up.cgroups_settle_ns, None, "{gave_up:?}");
        }
    }
}
