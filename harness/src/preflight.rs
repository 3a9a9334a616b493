//! Checks made before the first trial, so that a run which cannot work fails in one line
//! instead of in every trial: the memory the workload would hold against the host's.
use isolators::protocol::{Mode, Workload};

/// Bytes the probe allocates for `workload`: what `touch` holds, the two buffers `mem` copies.
pub fn workload_bytes(workload: &Workload) -> u64 {
    match workload.mode {
        Mode::Touch { mib } => mib.saturating_mul(1 << 20),
        Mode::Mem { mib } => mib.saturating_mul(2 << 20),
        _ => 0,
    }
}

/// Refuses a workload that needs more memory than the host has (`mem_total_bytes`, MemTotal):
/// the probe could not allocate it in any isolator.
pub fn check_workload_fits(workload: &Workload, mem_total_bytes: u64) -> Result<(), String> {
    let needed = workload_bytes(workload);
    if mem_total_bytes > 0 && needed > mem_total_bytes {
        return Err(format!(
            "--workload {}: the probe would allocate {} MiB, more than this host's {} MiB of memory (MemTotal); choose a smaller size",
            workload.mode,
            needed >> 20,
            mem_total_bytes >> 20
        ));
    }
    Ok(())
}

/// The host's MemTotal in bytes, 0 when /proc/meminfo cannot be read (then nothing is refused).
pub fn host_mem_total_bytes() -> u64 {
    use procfs::Current;
    procfs::Meminfo::current().map_or(0, |m| m.mem_total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_more_memory_than_the_host_has() {
        let gib = 1u64 << 30;
        let touch: Workload = "touch:1000000".parse().unwrap();
        let error = check_workload_fits(&touch, 8 * gib).unwrap_err();
        assert!(error.contains("touch:1000000"), "{error}");
        assert!(error.contains("8192 MiB"), "{error}");
        let mem: Workload = "mem:5000".parse().unwrap();
        assert!(
            check_workload_fits(&mem, 8 * gib).is_err(),
            "mem needs two buffers"
        );
        assert!(check_workload_fits(&"touch:64".parse().unwrap(), 8 * gib).is_ok());
        assert!(check_workload_fits(&"cpu:1000".parse().unwrap(), gib).is_ok());
    }
}
