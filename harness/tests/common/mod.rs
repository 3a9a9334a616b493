//! Helpers shared by the CLI test binaries.
use std::path::Path;

pub mod leaks;

/// The runner's scratch directories live in TMPDIR and must be gone after a run.
pub fn assert_no_scratch_left(tmp: &Path) {
    let left: Vec<_> = std::fs::read_dir(tmp)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("isobench-"))
        .collect();
    assert!(left.is_empty(), "scratch directories left behind: {left:?}");
}
