//! The HTML report on a full filesystem (a 1 MiB tmpfs this test mounts, as root): the write
//! fails, and every file in the directory is the earlier report's or absent, never empty or
//! half-written, and no temporary file is left.
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use reports::html;

const LINKS: [(&str, &str); 1] = [("JSON", "run.json")];

/// A tmpfs mounted for the test, unmounted (lazily, so a test failure cannot leave it busy)
/// when dropped.
struct TinyFs(PathBuf);

impl TinyFs {
    fn mount(dir: &Path, size: &str) -> TinyFs {
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "isobench-test",
            ])
            .arg(dir)
            .status()
            .expect("mount runs");
        assert!(status.success(), "mount tmpfs on {}", dir.display());
        TinyFs(dir.to_path_buf())
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Every file in `dir` with its bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut found: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(e.path()).unwrap())
        })
        .collect();
    found.sort();
    found
}

/// Fills the filesystem holding `path` until it refuses another byte.
fn fill(path: &Path) {
    use std::io::Write;
    let mut filler = std::fs::File::create(path).unwrap();
    let block = [0u8; 4096];
    while filler.write_all(&block).is_ok() {}
    while filler.write_all(&block[..1]).is_ok() {}
}

#[test]
fn a_full_disk_leaves_the_earlier_report_whole() {
    if !test_gate::run_if(
        "a_full_disk_leaves_the_earlier_report_whole",
        "root",
        test_gate::check_root(),
    ) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let _mounted = TinyFs::mount(tmp.path(), "1m");
    let report = tmp.path().join("report");
    html::write(&common::record(5, false), &report, &LINKS).expect("the first report fits");
    let before = files(&report);
    assert!(before.iter().any(|(name, _)| name == "index.html"));

    fill(&tmp.path().join("filler"));
    let error = html::write(&common::record(30, true), &report, &LINKS)
        .expect_err("a full disk cannot take the second report");
    assert!(
        error
            .to_string()
            .contains("check the directory is writable"),
        "{error}"
    );

    let after = files(&report);
    for (name, bytes) in &after {
        assert!(
            !name.starts_with(".isobench-"),
            "temporary file {name} left"
        );
        assert!(!bytes.is_empty(), "{name} is empty");
        let earlier = before.iter().find(|(n, _)| n == name);
        assert_eq!(
            earlier.map(|(_, b)| b),
            Some(bytes),
            "{name} is neither the earlier report's nor absent"
        );
    }
    assert!(
        after.iter().any(|(name, _)| name == "index.html"),
        "index.html kept"
    );
}
