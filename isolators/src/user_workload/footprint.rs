//! Disk footprint of a rootfs tree: apparent and allocated bytes of its regular files, each
//! inode counted once however many hard links name it (a hard-link farm costs no data blocks).
use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::Error;

/// What a tree holds on disk.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TreeFootprint {
    /// Sum of file sizes (`st_size`), each inode once.
    pub apparent_bytes: u64,
    /// Blocks allocated to them (`st_blocks` × 512), each inode once.
    pub allocated_bytes: u64,
    /// Distinct regular files (inodes).
    pub files: u64,
}

/// Measures the regular files below `root`, not following symlinks (like `du -s --apparent-size`
/// and `du -s` with their hard-link deduplication, minus directories' own blocks).
pub fn tree_footprint(root: &Path) -> Result<TreeFootprint, Error> {
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    let mut footprint = TreeFootprint::default();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| Error::io(format!("cannot list {}", dir.display()), e))?;
        for entry in entries {
            let entry =
                entry.map_err(|e| Error::io(format!("cannot list {}", dir.display()), e))?;
            let meta = entry
                .metadata() // lstat: a symlink is not followed
                .map_err(|e| Error::io(format!("cannot stat {}", entry.path().display()), e))?;
            if meta.is_dir() {
                pending.push(entry.path());
            } else if meta.is_file() && seen.insert((meta.dev(), meta.ino())) {
                footprint.apparent_bytes += meta.size();
                footprint.allocated_bytes += meta.blocks() * 512;
                footprint.files += 1;
            }
        }
    }
    Ok(footprint)
}
