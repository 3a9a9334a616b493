//! Reading an instance's cgroup memory: the total charged and the kernel part, on v1 and v2.
use std::path::{Path, PathBuf};

use crate::Error;

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
    fn reads_v2_cgroup_fixture() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("memory.current"), "1048576\n").unwrap();
        std::fs::write(dir.path().join("memory.stat"), "anon 4096\nkernel 8192\n").unwrap();
        let (total, kernel) = CgroupMemorySource::V2(dir.path().into()).read().unwrap();
        assert_eq!((total, kernel), (1_048_576, Some(8192)));
    }
}
