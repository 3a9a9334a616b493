//! Memory of an instance: PSS over its host processes, its cgroup charge, and for VMs the split
//! between resident guest RAM and VMM overhead (resident memory outside guest RAM).

use crate::resources::Resources;
use crate::Error;
pub use isobench_protocol::MemoryUsage;

/// Measures every process and the cgroup listed in `resources`.
pub fn measure(resources: &Resources) -> Result<MemoryUsage, Error> {
    let mut usage = MemoryUsage::default();
    for &pid in &resources.pids {
        // A helper that exits right after ready (an engine's setup process) is no longer part of
        // the instance; anything else that stops us reading is an error.
        let rollup = match procfs::process::Process::new(pid).and_then(|p| p.smaps_rollup()) {
            Ok(rollup) => rollup,
            Err(procfs::ProcError::NotFound(_)) => continue,
            Err(e) => {
                return Err(Error::Engine(format!(
                    "cannot read /proc/{pid}/smaps_rollup: {e}"
                )))
            }
        };
        for map in rollup.memory_map_rollup.iter() {
            let field = |name: &str| map.extension.map.get(name).copied();
            usage.pss_bytes += field("Pss").unwrap_or(0);
            usage.rss_bytes += field("Rss").unwrap_or(0);
            if let Some(anon) = field("Pss_Anon") {
                *usage.pss_anon_bytes.get_or_insert(0) += anon + field("Pss_Shmem").unwrap_or(0);
            }
        }
        usage.processes += 1;
    }
    let cgroups: Vec<_> = resources
        .cgroup
        .iter()
        .chain(&resources.launcher_cgroup)
        .collect();
    let mut covered: Vec<i32> = Vec::new();
    for (index, cgroup) in cgroups.iter().enumerate() {
        let read = cgroup.read()?;
        if index == 0 && resources.cgroup.is_some() {
            usage.cgroup_bytes = Some(read.total_bytes);
        }
        match read.kernel_bytes {
            Ok(kernel) => {
                *usage.cgroup_kernel_bytes.get_or_insert(0) += kernel;
                covered.extend(cgroup.pids());
            }
            Err(reason) => usage.kernel_not_measured = Some(reason),
        }
    }
    if cgroups.is_empty() {
        usage.kernel_not_measured = Some(
            "no cgroup of its own: kernel memory estimated from page tables and stacks".into(),
        );
    }
    let outside: Vec<i32> = resources
        .pids
        .iter()
        .copied()
        .filter(|pid| !covered.contains(pid))
        .collect();
    if !outside.is_empty() {
        usage.kernel_estimate_bytes = Some(outside.iter().map(|&pid| kernel_estimate(pid)).sum());
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
                .filter(|ram| ram.pid == pid)
                .map(|ram| (ram.start, ram.start + ram.len))
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

/// One kernel stack per thread (THREAD_SIZE on x86-64 with KASAN off).
const KERNEL_STACK_BYTES: u64 = 16 * 1024;

/// Page tables (VmPTE) plus one kernel stack per thread of process `pid`, from /proc/PID/status;
/// 0 for a process that is gone.
fn kernel_estimate(pid: i32) -> u64 {
    let Ok(status) = procfs::process::Process::new(pid).and_then(|p| p.status()) else {
        return 0;
    };
    let page_tables = status.vmpte.unwrap_or(0) * 1024;
    page_tables + status.threads * KERNEL_STACK_BYTES
}

fn vmm_pids(resources: &Resources) -> Vec<i32> {
    let mut pids: Vec<i32> = resources.guest_ram.iter().map(|ram| ram.pid).collect();
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
