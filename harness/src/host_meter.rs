//! Reading what the whole host pays: /proc/meminfo snapshots and the system's CPU counter (the
//! root cgroup's cpuacct.usage on v1, its cpu.stat on v2, else /proc/stat), a quiet window
//! to see whether anything else moves the host, and the difference over a batch.
use std::time::Duration;

use isolators::monotonic_ns;
use isolators::MemoryUsage;
use procfs::{Current, CurrentSI};
use reports::HostCostSample;

/// How long the host is watched, with nothing launched, before a batch.
pub const QUIET_WINDOW: Duration = Duration::from_millis(300);

/// How long the host is watched while the instances sit idle, held.
pub const HELD_WINDOW: Duration = Duration::from_millis(200);

/// A batch whose memory in use moved by more than this while nothing was launched, or while
/// the instances sat idle, is disturbed.
pub const QUIET_LIMIT_BYTES: i64 = 4 << 20;

/// The /proc/meminfo fields a batch is judged by, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemSnapshot {
    pub mem_available: i64,
    /// MemTotal − free pages (MemFree plus the per-CPU free lists) − Buffers − (Cached − Shmem).
    pub used: i64,
    pub slab: i64,
    pub slab_unreclaimable: i64,
    pub page_tables: i64,
    pub secondary_page_tables: i64,
    pub kernel_stack: i64,
    pub percpu: i64,
}

impl MemSnapshot {
    /// Reads /proc/meminfo now.
    pub fn now() -> Option<MemSnapshot> {
        let m = procfs::Meminfo::current().ok()?;
        let per_cpu_free = std::fs::read_to_string("/proc/zoneinfo")
            .map(|text| per_cpu_free_pages(&text) * page_size())
            .unwrap_or(0);
        let shmem = m.shmem.unwrap_or(0);
        let used = m.mem_total as i64
            - m.mem_free as i64
            - per_cpu_free as i64
            - m.buffers as i64
            - (m.cached as i64 - shmem as i64);
        Some(MemSnapshot {
            mem_available: m.mem_available? as i64,
            used,
            slab: m.slab as i64,
            slab_unreclaimable: m.s_unreclaim.unwrap_or(0) as i64,
            page_tables: m.page_tables.unwrap_or(0) as i64,
            secondary_page_tables: m.secondary_page_tables.unwrap_or(0) as i64,
            kernel_stack: m.kernel_stack.unwrap_or(0) as i64,
            percpu: m.per_cpu.unwrap_or(0) as i64,
        })
    }
}

/// Free pages parked on the per-CPU lists (the `count:` of every zone's pagesets in
/// /proc/zoneinfo). MemFree leaves them out, and they swing by tens of MiB as CPUs allocate and
/// free: counted as free, memory in use becomes steady to a few KiB per instance.
pub fn per_cpu_free_pages(zoneinfo: &str) -> u64 {
    zoneinfo
        .lines()
        .filter_map(|line| {
            line.trim()
                .strip_prefix("count:")?
                .trim()
                .parse::<u64>()
                .ok()
        })
        .sum()
}

fn page_size() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map_or(4096, |size| size as u64)
}

/// Where system-wide CPU time is read from, decided once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CpuCounter {
    /// v1 root `cpuacct.usage`: every task's CPU, in ns.
    CpuacctUsage(std::path::PathBuf),
    /// v2 root `cpu.stat`'s `usage_usec`.
    CpuStat(std::path::PathBuf),
    /// /proc/stat's busy jiffies (user + nice + system + irq + softirq + steal), 10 ms steps.
    ProcStat,
}

impl CpuCounter {
    pub fn detect() -> CpuCounter {
        let root = std::path::Path::new(isolators::cgroup::CGROUP_ROOT);
        for dir in ["cpuacct", "cpu,cpuacct", "cpuacct,cpu"] {
            let file = root.join(dir).join("cpuacct.usage");
            if std::fs::read_to_string(&file).is_ok() {
                return CpuCounter::CpuacctUsage(file);
            }
        }
        let stat = root.join("cpu.stat");
        if std::fs::read_to_string(&stat).is_ok_and(|t| t.contains("usage_usec")) {
            return CpuCounter::CpuStat(stat);
        }
        CpuCounter::ProcStat
    }

    /// CPU time used by everything on the host since boot, in ns.
    pub fn read_ns(&self) -> Option<u64> {
        match self {
            CpuCounter::CpuacctUsage(file) => {
                std::fs::read_to_string(file).ok()?.trim().parse().ok()
            }
            CpuCounter::CpuStat(file) => {
                let text = std::fs::read_to_string(file).ok()?;
                let usec: u64 = text
                    .lines()
                    .find_map(|l| l.strip_prefix("usage_usec ")?.trim().parse().ok())?;
                Some(usec * 1000)
            }
            CpuCounter::ProcStat => {
                let stat = procfs::KernelStats::current().ok()?;
                let t = stat.total;
                let ticks = t.user
                    + t.nice
                    + t.system
                    + t.irq.unwrap_or(0)
                    + t.softirq.unwrap_or(0)
                    + t.steal.unwrap_or(0);
                Some(ticks * 1_000_000_000 / procfs::ticks_per_second())
            }
        }
    }
}

/// The host once it held still for a window: memory, how far it moved in that last window, and
/// the CPU rate over it (the idle rate, before a batch).
#[derive(Debug, Clone)]
pub struct Settled {
    pub memory: MemSnapshot,
    /// Memory in use at the end minus at the start of the last window.
    pub drift_bytes: i64,
    /// CPU ns per wall ns the host burned with nothing launched.
    pub idle_cpu_rate: Option<f64>,
    pub cpu_ns: Option<u64>,
    pub at_ns: u64,
}

/// How long the host may take to settle (the last batch's asynchronous frees: network
/// namespaces, RCU) before a batch starts anyway and is marked disturbed.
pub const SETTLE_LIMIT: Duration = Duration::from_secs(3);

/// Watches the host, `window` at a time, until memory in use holds still for a whole window (or
/// [`SETTLE_LIMIT`] passes). Before a batch nothing is launched; while a batch is held, this
/// lets what the instances free after ready (an engine's setup) settle.
pub fn settle(counter: &CpuCounter, window: Duration) -> Option<Settled> {
    let started = std::time::Instant::now();
    let mut first = MemSnapshot::now()?;
    loop {
        let (cpu0, t0) = (counter.read_ns(), monotonic_ns());
        std::thread::sleep(window);
        let memory = MemSnapshot::now()?;
        let (cpu1, t1) = (counter.read_ns(), monotonic_ns());
        let drift = memory.used - first.used;
        if drift.abs() <= QUIET_LIMIT_BYTES || started.elapsed() >= SETTLE_LIMIT {
            let idle_cpu_rate = match (cpu0, cpu1) {
                (Some(a), Some(b)) if t1 > t0 => {
                    Some(b.saturating_sub(a) as f64 / (t1 - t0) as f64)
                }
                _ => None,
            };
            return Some(Settled {
                memory,
                drift_bytes: drift,
                idle_cpu_rate,
                cpu_ns: cpu1,
                at_ns: t1,
            });
        }
        first = memory;
    }
}

/// The memory part of a batch's sample: growth from `before` to `held`, with the attributed
/// sums filled in by the caller. CPU and wall time come later, after teardown.
pub fn memory_growth(before: &Settled, held: &MemSnapshot, instances: u32) -> HostCostSample {
    let b = &before.memory;
    let disturbed = (before.drift_bytes.abs() > QUIET_LIMIT_BYTES).then(|| {
        format!(
            "memory in use moved {:+.1} MiB in {} ms while nothing was launched: something else on the host was allocating or freeing",
            before.drift_bytes as f64 / 1048576.0,
            QUIET_WINDOW.as_millis()
        )
    });
    HostCostSample {
        instances,
        used_growth_bytes: held.used - b.used,
        mem_available_drop_bytes: b.mem_available - held.mem_available,
        slab_growth_bytes: held.slab - b.slab,
        slab_unreclaimable_growth_bytes: held.slab_unreclaimable - b.slab_unreclaimable,
        page_tables_growth_bytes: held.page_tables - b.page_tables,
        secondary_page_tables_growth_bytes: held.secondary_page_tables - b.secondary_page_tables,
        kernel_stack_growth_bytes: held.kernel_stack - b.kernel_stack,
        percpu_growth_bytes: held.percpu - b.percpu,
        quiet_drift_bytes: before.drift_bytes,
        disturbed,
        ..Default::default()
    }
}

/// The sample of a held batch: waits for the host to hold still, then its growth since `before`
/// beside what the instances' own accounting (`usages`) attributes to them. Disturbed when the
/// host never held still.
pub fn held_sample(
    before: &Settled,
    counter: &CpuCounter,
    usages: &[MemoryUsage],
    instances: u32,
) -> Option<HostCostSample> {
    let held = settle(counter, HELD_WINDOW)?;
    let mut sample = memory_growth(before, &held.memory, instances);
    // File pages in the PSS sit in the page cache, which memory in use leaves out.
    sample.attributed_user_bytes = usages
        .iter()
        .map(|m| m.pss_anon_bytes.unwrap_or(m.pss_bytes))
        .sum();
    sample.attributed_kernel_bytes = usages.iter().map(MemoryUsage::kernel_bytes).sum();
    if sample.disturbed.is_none() && held.drift_bytes.abs() > QUIET_LIMIT_BYTES {
        sample.disturbed = Some(format!(
            "memory in use was still moving ({:+.1} MiB in {} ms) {} s after the instances were ready: something on the host (another process, a daemon, a kernel thread, or the instances themselves) kept allocating or freeing",
            held.drift_bytes as f64 / 1048576.0,
            HELD_WINDOW.as_millis(),
            SETTLE_LIMIT.as_secs()
        ));
    }
    Some(sample)
}

/// The host's CPU time over the spans of a batch that belong to the instances — launching them
/// until all are ready, and tearing them down — leaving out the time they sat held while we
/// read their memory (idle for them, busy for us, and long enough for background noise).
#[derive(Debug)]
pub struct CpuSpans<'a> {
    counter: &'a CpuCounter,
    spent_ns: Option<i64>,
    wall_ns: u64,
    open: Option<(Option<u64>, u64)>,
}

impl<'a> CpuSpans<'a> {
    pub fn new(counter: &'a CpuCounter) -> CpuSpans<'a> {
        CpuSpans {
            counter,
            spent_ns: Some(0),
            wall_ns: 0,
            open: None,
        }
    }

    pub fn start(&mut self) {
        self.open = Some((self.counter.read_ns(), monotonic_ns()));
    }

    pub fn stop(&mut self) {
        let Some((cpu0, t0)) = self.open.take() else {
            return;
        };
        let (cpu1, t1) = (self.counter.read_ns(), monotonic_ns());
        self.wall_ns += t1.saturating_sub(t0);
        self.spent_ns = match (self.spent_ns, cpu0, cpu1) {
            (Some(spent), Some(a), Some(b)) => Some(spent + b as i64 - a as i64),
            _ => None,
        };
    }

    /// Fills in the sample's CPU (spent minus what the host burns idle over the same time) and
    /// wall time.
    pub fn finish(self, sample: &mut HostCostSample, before: &Settled) {
        sample.wall_ns = self.wall_ns;
        sample.cpu_ns = match (self.spent_ns, before.idle_cpu_rate) {
            (Some(spent), Some(rate)) => Some(spent - (rate * self.wall_ns as f64) as i64),
            _ => None,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_host() {
        let snapshot = MemSnapshot::now().expect("/proc/meminfo");
        assert!(
            snapshot.used > 0 && snapshot.mem_available > 0,
            "{snapshot:?}"
        );
        let counter = CpuCounter::detect();
        let a = counter.read_ns().expect("a CPU counter");
        let spin = std::time::Instant::now();
        while spin.elapsed() < Duration::from_millis(30) {}
        let b = counter.read_ns().unwrap();
        assert!(b > a, "{counter:?}: {a} then {b} after 30 ms of spinning");
    }

    #[test]
    fn counts_the_free_pages_on_per_cpu_lists() {
        let zoneinfo = "Node 0, zone   Normal
  pages free     1549783
        nr_free_pages 1549783
  pagesets
    cpu: 0
              count:    7214
              high:     8000
              batch:    63
  vm stats threshold: 40
    cpu: 1
              count:    6550
              high:     8000
";
        assert_eq!(per_cpu_free_pages(zoneinfo), 7214 + 6550);
    }

    #[test]
    fn a_quiet_host_is_not_disturbed_and_a_moving_one_is() {
        let mut before = settle(&CpuCounter::ProcStat, Duration::from_millis(10)).unwrap();
        before.drift_bytes = 0;
        let sample = memory_growth(&before, &before.memory, 10);
        assert_eq!((sample.used_growth_bytes, sample.disturbed), (0, None));
        before.drift_bytes = 64 << 20;
        let sample = memory_growth(&before, &before.memory, 10);
        assert!(sample.disturbed.unwrap().contains("+64.0 MiB"));
    }
}
