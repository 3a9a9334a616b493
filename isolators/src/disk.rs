//! Disk footprint: runtime (executables and the shared libraries they load) plus image.
use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::Error;

/// Bytes on disk, apparent (file sizes) and allocated (blocks actually used).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bytes {
    pub apparent_bytes: u64,
    pub allocated_bytes: u64,
}

/// What an isolator needs on disk to run the probe.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskFootprint {
    /// Engine executables, helpers and their shared libraries, deduplicated.
    pub runtime: Bytes,
    /// Rootfs, bundle, kernel + initramfs, or guest image.
    pub image: Bytes,
    /// Every file counted, for the curious.
    pub runtime_files: Vec<PathBuf>,
    pub image_files: Vec<PathBuf>,
}

impl DiskFootprint {
    /// Measures `executables` (with the libraries `ldd` resolves) and `image` paths (files or
    /// directory trees). Duplicates, symlinks included, count once.
    pub fn measure(executables: &[PathBuf], image: &[PathBuf]) -> Result<DiskFootprint, Error> {
        let mut runtime_files = BTreeSet::new();
        for exe in executables {
            let exe = exe
                .canonicalize()
                .map_err(|e| Error::io(exe.display().to_string(), e))?;
            for lib in shared_libraries(&exe) {
                runtime_files.insert(lib.canonicalize().unwrap_or(lib));
            }
            runtime_files.insert(exe);
        }
        let mut image_files = BTreeSet::new();
        for path in image {
            collect_files(path, &mut image_files)?;
        }
        let runtime_files: Vec<PathBuf> = runtime_files.into_iter().collect();
        let image_files: Vec<PathBuf> = image_files.into_iter().collect();
        Ok(DiskFootprint {
            runtime: sum(&runtime_files),
            image: sum(&image_files),
            runtime_files,
            image_files,
        })
    }

    pub fn total(&self) -> Bytes {
        Bytes {
            apparent_bytes: self.runtime.apparent_bytes + self.image.apparent_bytes,
            allocated_bytes: self.runtime.allocated_bytes + self.image.allocated_bytes,
        }
    }
}

/// The shared libraries `ldd` resolves for an executable; none for static ones.
pub fn shared_libraries(executable: &Path) -> Vec<PathBuf> {
    let Ok(output) = Command::new("ldd").arg(executable).output() else {
        return Vec::new();
    };
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
            let path = match line.split_once("=>") {
                Some((_, right)) => right.split_whitespace().next()?,
                None => line.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

fn collect_files(path: &Path, out: &mut BTreeSet<PathBuf>) -> Result<(), Error> {
    let meta =
        std::fs::symlink_metadata(path).map_err(|e| Error::io(path.display().to_string(), e))?;
    if meta.is_dir() {
        let entries =
            std::fs::read_dir(path).map_err(|e| Error::io(path.display().to_string(), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(path.display().to_string(), e))?;
            collect_files(&entry.path(), out)?;
        }
    } else if meta.is_file() {
        out.insert(path.to_path_buf());
    }
    Ok(())
}

fn sum(files: &[PathBuf]) -> Bytes {
    files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .fold(Bytes::default(), |acc, m| Bytes {
            apparent_bytes: acc.apparent_bytes + m.len(),
            allocated_bytes: acc.allocated_bytes + m.blocks() * 512,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_executable_counts_its_libraries() {
        let footprint = DiskFootprint::measure(&[PathBuf::from("/bin/sh")], &[]).unwrap();
        assert!(footprint
            .runtime_files
            .iter()
            .any(|f| f.to_string_lossy().contains("libc.so")));
        assert!(footprint.runtime.apparent_bytes > footprint.runtime_files.len() as u64);
    }

    #[test]
    fn image_tree_is_summed_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/a"), vec![0u8; 10_000]).unwrap();
        let footprint =
            DiskFootprint::measure(&[], &[dir.path().to_path_buf(), dir.path().join("sub/a")])
                .unwrap();
        assert_eq!(footprint.image.apparent_bytes, 10_000);
        assert!(footprint.image.allocated_bytes >= 8192);
    }
}
