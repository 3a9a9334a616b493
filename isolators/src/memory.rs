//! Memory of an instance: PSS over its host processes, its cgroup charge, and for VMs the split
//! between resident guest RAM and VMM overhead (resident memory outside guest RAM).
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::isolator::Resources;
use crate::Error;

/// One memory sample of one instance, taken while the probe holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryUsage {
    /// PSS summed over every host process of the instance (smaps_rollup).
    pub pss_bytes: u64,
    /// RSS summed likewise (double-counts shared pages; for reference).
    pub rss_bytes: u64,
    /// How many host processes were measured.
    pub processes: u32,
    /// Total charged to the instance's cgroup (v2 memory.current; v1 rss+cache+kernel).
    pub cgroup_bytes: Option<u64>,
    /// Kernel memory charged to the cgroup (slab, stacks, page tables), not in any PSS.
    pub cgroup_kernel_bytes: Option<u64>,
    /// VMs: guest RAM pages resident on the host.
    pub guest_ram_resident_bytes: Option<u64>,
    /// VMs: resident memory of the VMM outside guest RAM (Firecracker's definition).
    pub vmm_overhead_bytes: Option<u64>,
}

impl MemoryUsage {
    /// What the instance costs the host: PSS plus kernel memory charged to its cgroup.
    pub fn footprint_bytes(&self) -> u64 {
        self.pss_bytes + self.cgroup_kernel_bytes.unwrap_or(0)
    }
}

/// Where to read an instance's cgroup memory from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupMemorySource {
    /// A cgroup2 directory.
    V2(PathBuf),
    /// A v1 memory-controller directory.
    V1(PathBuf),
}

impl CgroupMemorySource {
    /// Returns (total charged, kernel) in bytes.
    pub fn read(&self) -> Result<(u64, Option<u64>), Error> {
        match self {
            CgroupMemorySource::V2(dir) => {
                let current = read_u64(&dir.join("memory.current"))?;
                let stat = read_stat(&dir.join("memory.stat"))?;
                let kernel = stat_value(&stat, "kernel").or_else(|| {
                    let parts = ["kernel_stack", "pagetables", "percpu", "sock", "slab"];
                    Some(parts.iter().filter_map(|k| stat_value(&stat, k)).sum())
                });
                Ok((current, kernel))
            }
            CgroupMemorySource::V1(dir) => {
                // usage_in_bytes is fuzzy on v1; memory.stat's totals are exact.
                let stat = read_stat(&dir.join("memory.stat"))?;
                let user = ["total_rss", "total_cache"]
                    .iter()
                    .filter_map(|k| stat_value(&stat, k))
                    .sum::<u64>();
                let kernel = read_u64(&dir.join("memory.kmem.usage_in_bytes")).ok();
                Ok((user + kernel.unwrap_or(0), kernel))
            }
        }
    }

    pub fn dir(&self) -> &Path {
        match self {
            CgroupMemorySource::V2(dir) | CgroupMemorySource::V1(dir) => dir,
        }
    }
}

/// Measures every process and the cgroup listed in `resources`.
pub fn measure(resources: &Resources) -> Result<MemoryUsage, Error> {
    let mut usage = MemoryUsage::default();
    for &pid in &resources.pids {
        let process = procfs::process::Process::new(pid)
            .map_err(|e| Error::Engine(format!("process {pid} of the instance is gone: {e}")))?;
        let rollup = process
            .smaps_rollup()
            .map_err(|e| Error::Engine(format!("cannot read /proc/{pid}/smaps_rollup: {e}")))?;
        for map in rollup.memory_map_rollup.iter() {
            usage.pss_bytes += map.extension.map.get("Pss").copied().unwrap_or(0);
            usage.rss_bytes += map.extension.map.get("Rss").copied().unwrap_or(0);
        }
        usage.processes += 1;
    }
    if let Some(cgroup) = &resources.cgroup {
        let (total, kernel) = cgroup.read()?;
        usage.cgroup_bytes = Some(total);
        usage.cgroup_kernel_bytes = kernel;
    }
    if !resources.guest_ram.is_empty() {
        let mut inside = 0;
        let mut outside = 0;
        for pid in vmm_pids(resources) {
            let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps"))
                .map_err(|e| Error::io(format!("/proc/{pid}/smaps"), e))?;
            let ranges: Vec<(u64, u64)> = resources
                .guest_ram
                .iter()
                .filter(|(p, _, _)| *p == pid)
                .map(|&(_, start, len)| (start, start + len))
                .collect();
            let (i, o) = split_resident(&smaps, &ranges);
            inside += i;
            outside += o;
        }
        usage.guest_ram_resident_bytes = Some(inside);
        usage.vmm_overhead_bytes = Some(outside);
    }
    Ok(usage)
}

fn vmm_pids(resources: &Resources) -> Vec<i32> {
    let mut pids: Vec<i32> = resources.guest_ram.iter().map(|&(pid, _, _)| pid).collect();
    pids.dedup();
    pids
}

/// Splits the `Rss:` of every mapping in an smaps text into (inside `ranges`, outside).
pub fn split_resident(smaps: &str, ranges: &[(u64, u64)]) -> (u64, u64) {
    let (mut inside, mut outside) = (0u64, 0u64);
    let mut current: Option<(u64, u64)> = None;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if let Some((start, end)) = first.split_once('-') {
            if let (Ok(start), Ok(end)) =
                (u64::from_str_radix(start, 16), u64::from_str_radix(end, 16))
            {
                current = Some((start, end));
                continue;
            }
        }
        if let Some(kib) = line.strip_prefix("Rss:") {
            let bytes = kib
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .unwrap_or(0)
                * 1024;
            let within =
                current.is_some_and(|(s, e)| ranges.iter().any(|&(rs, re)| s >= rs && e <= re));
            if within {
                inside += bytes;
            } else {
                outside += bytes;
            }
        }
    }
    (inside, outside)
}

fn read_u64(path: &Path) -> Result<u64, Error> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Error::io(path.display().to_string(), e))?;
    text.trim()
        .parse()
        .map_err(|_| Error::Engine(format!("{}: not a number: {text:?}", path.display())))
}

fn read_stat(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| Error::io(path.display().to_string(), e))
}

fn stat_value(stat: &str, key: &str) -> Option<u64> {
    stat.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_guest_ram_from_vmm_overhead() {
        let smaps = "\
7f0000000000-7f0008000000 rw-p 00000000 00:00 0
Size:             131072 kB
Rss:                2048 kB
Pss:                2048 kB
55d000000000-55d000100000 r-xp 00000000 08:01 42 /usr/bin/isobench-vmm
Rss:                 900 kB
";
        let (inside, outside) = split_resident(smaps, &[(0x7f00_0000_0000, 0x7f00_0800_0000)]);
        assert_eq!(inside, 2048 * 1024);
        assert_eq!(outside, 900 * 1024);
    }

    #[test]
    fn reads_v2_cgroup_fixture() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("memory.current"), "1048576\n").unwrap();
        std::fs::write(dir.path().join("memory.stat"), "anon 4096\nkernel 8192\n").unwrap();
        let (total, kernel) = CgroupMemorySource::V2(dir.path().into()).read().unwrap();
        assert_eq!((total, kernel), (1_048_576, Some(8192)));
    }

    #[test]
    fn measures_this_process() {
        let resources = Resources {
            pids: vec![std::process::id() as i32],
            ..Default::default()
        };
        let usage = measure(&resources).unwrap();
        assert!(usage.pss_bytes > 0 && usage.rss_bytes >= usage.pss_bytes);
        assert_eq!(usage.processes, 1);
    }
}
