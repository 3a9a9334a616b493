//! Disk footprint: runtime (executables and the shared libraries they load) plus image.
use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Error;

pub use isobench_protocol::DiskFootprint;

/// Measures `executables` (with the libraries `ldd` resolves) and `image` paths (files or
/// directory trees) into a [`DiskFootprint`]. Duplicates, symlinks included, count once.
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
    let (runtime_apparent_bytes, runtime_allocated_bytes) = sum(&runtime_files);
    let (image_apparent_bytes, image_allocated_bytes) = sum(&image_files);
    let names = |files: BTreeSet<PathBuf>| {
        files
            .into_iter()
            .map(|f| f.to_string_lossy().into_owned())
            .collect()
    };
    Ok(DiskFootprint {
        runtime_apparent_bytes,
        runtime_allocated_bytes,
        image_apparent_bytes,
        image_allocated_bytes,
        runtime_files: names(runtime_files),
        image_files: names(image_files),
    })
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

/// (apparent, allocated) bytes of `files`, each inode once: a hard-linked copy of a rootfs
/// (what the user-workload isolators run) costs no more than the tree it links to.
fn sum(files: &BTreeSet<PathBuf>) -> (u64, u64) {
    let mut inodes = BTreeSet::new();
    files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .filter(|m| inodes.insert((m.dev(), m.ino())))
        .fold((0, 0), |(apparent, allocated), m| {
            (apparent + m.len(), allocated + m.blocks() * 512)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_executable_counts_its_libraries() {
        let footprint = measure(&[PathBuf::from("/bin/sh")], &[]).unwrap();
        assert!(footprint
            .runtime_files
            .iter()
            .any(|f| f.contains("libc.so")));
        assert!(footprint.runtime_apparent_bytes > footprint.runtime_files.len() as u64);
    }

    #[test]
    fn image_tree_is_summed_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/a"), vec![0u8; 10_000]).unwrap();
        let footprint =
            measure(&[], &[dir.path().to_path_buf(), dir.path().join("sub/a")]).unwrap();
        assert_eq!(footprint.image_apparent_bytes, 10_000);
        assert!(footprint.image_allocated_bytes >= 8192);
    }

    #[test]
    fn hard_links_are_summed_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), vec![0u8; 10_000]).unwrap();
        std::fs::hard_link(dir.path().join("a"), dir.path().join("b")).unwrap();
        let footprint = measure(&[], &[dir.path().to_path_buf()]).unwrap();
        assert_eq!(footprint.image_apparent_bytes, 10_000);
        assert_eq!(footprint.image_files.len(), 2, "both names are listed");
    }
}
