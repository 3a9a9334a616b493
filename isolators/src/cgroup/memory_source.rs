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

/// One reading of a cgroup's memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMemory {
    /// Everything charged (user pages, page cache, kernel).
    pub total_bytes: u64,
    /// The kernel part, or why this kernel does not tell (never a silent 0).
    pub kernel_bytes: Result<u64, String>,
}

/// memory.stat keys whose sum is the kernel part on v2 kernels older than 5.18's `kernel` key.
const V2_KERNEL_PARTS: [&str; 5] = ["kernel_stack", "pagetables", "percpu", "sock", "slab"];

impl CgroupMemorySource {
    /// Reads the total charged and the kernel part.
    pub fn read(&self) -> Result<CgroupMemory, Error> {
        match self {
            CgroupMemorySource::V2(dir) => {
                let total_bytes = read_u64(&dir.join("memory.current"))?;
                let stat = read_stat(&dir.join("memory.stat"))?;
                let kernel_bytes = match stat_value(&stat, "kernel") {
                    Some(kernel) => Ok(kernel),
                    None => {
                        let parts: Vec<u64> = V2_KERNEL_PARTS
                            .iter()
                            .filter_map(|k| stat_value(&stat, k))
                            .collect();
                        if parts.is_empty() {
                            Err(format!(
                                "{}: no kernel, slab or kernel_stack key — kernel memory not measured",
                                dir.join("memory.stat").display()
                            ))
                        } else {
                            Ok(parts.iter().sum())
                        }
                    }
                };
                Ok(CgroupMemory {
                    total_bytes,
                    kernel_bytes,
                })
            }
            CgroupMemorySource::V1(dir) => {
                // usage_in_bytes is fuzzy on v1; memory.stat's totals are exact.
                let stat = read_stat(&dir.join("memory.stat"))?;
                let user = ["total_rss", "total_cache"]
                    .iter()
                    .filter_map(|k| stat_value(&stat, k))
                    .sum::<u64>();
                let kmem = dir.join("memory.kmem.usage_in_bytes");
                let kernel_bytes = match std::fs::read_to_string(&kmem) {
                    Ok(text) => text.trim().parse().map_err(|_| {
                        format!("{}: not a number: {text:?} — kernel memory not measured", kmem.display())
                    }),
                    Err(e) => Err(format!(
                        "{}: {e} (this kernel has no v1 kernel-memory accounting, e.g. booted with cgroup.memory=nokmem) — kernel memory not measured",
                        kmem.display()
                    )),
                };
                Ok(CgroupMemory {
                    total_bytes: user + kernel_bytes.as_ref().copied().unwrap_or(0),
                    kernel_bytes,
                })
            }
        }
    }

    pub fn dir(&self) -> &Path {
        match self {
            CgroupMemorySource::V2(dir) | CgroupMemorySource::V1(dir) => dir,
        }
    }

    /// The pids in the cgroup and the cgroups below it, whose kernel memory its (hierarchical)
    /// charge covers.
    pub fn pids(&self) -> Vec<i32> {
        let mut pids = Vec::new();
        collect_pids(self.dir(), &mut pids);
        pids
    }
}

fn collect_pids(dir: &Path, pids: &mut Vec<i32>) {
    if let Ok(text) = std::fs::read_to_string(dir.join("cgroup.procs")) {
        pids.extend(
            text.split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok()),
        );
    }
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            collect_pids(&entry.path(), pids);
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

    /// A v2 cgroup directory as the kernel shows it, from the files in `files`.
    fn v2_fixture(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn reads_v2_kernel_key() {
        let dir = v2_fixture(&[
            ("memory.current", "1048576\n"),
            (
                "memory.stat",
                "anon 4096\nfile 0\nkernel 8192\nkernel_stack 16384\n",
            ),
        ]);
        let read = CgroupMemorySource::V2(dir.path().into()).read().unwrap();
        assert_eq!(read.total_bytes, 1_048_576);
        assert_eq!(read.kernel_bytes, Ok(8192));
    }

    #[test]
    fn sums_v2_kernel_parts_on_kernels_before_the_kernel_key() {
        let dir = v2_fixture(&[
            ("memory.current", "65536\n"),
            (
                "memory.stat",
                "anon 4096\nkernel_stack 16384\npagetables 8192\npercpu 960\nsock 0\nslab 20480\n",
            ),
        ]);
        let read = CgroupMemorySource::V2(dir.path().into()).read().unwrap();
        assert_eq!(read.kernel_bytes, Ok(16384 + 8192 + 960 + 20480));
    }

    #[test]
    fn v2_without_any_kernel_key_is_named_not_measured() {
        let dir = v2_fixture(&[("memory.current", "4096\n"), ("memory.stat", "anon 4096\n")]);
        let read = CgroupMemorySource::V2(dir.path().into()).read().unwrap();
        let reason = read.kernel_bytes.unwrap_err();
        assert!(reason.contains("not measured"), "{reason}");
    }

    #[test]
    fn v1_without_kmem_file_is_named_not_measured() {
        let dir = v2_fixture(&[("memory.stat", "total_rss 8192\ntotal_cache 4096\n")]);
        let read = CgroupMemorySource::V1(dir.path().into()).read().unwrap();
        assert_eq!(read.total_bytes, 12288);
        let reason = read.kernel_bytes.unwrap_err();
        assert!(
            reason.contains("memory.kmem.usage_in_bytes") && reason.contains("not measured"),
            "{reason}"
        );
    }

    #[test]
    fn v1_with_kmem_adds_it_to_the_total() {
        let dir = v2_fixture(&[
            ("memory.stat", "total_rss 8192\ntotal_cache 4096\n"),
            ("memory.kmem.usage_in_bytes", "40960\n"),
        ]);
        let read = CgroupMemorySource::V1(dir.path().into()).read().unwrap();
        assert_eq!((read.total_bytes, read.kernel_bytes), (53248, Ok(40960)));
    }
}
