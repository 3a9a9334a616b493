//! A run's own output directory: created exclusively (never shared by two runs), locked for
//! the run's life, and refused when it already holds a run unless the user says `--force`.
use std::fs::File;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::output::utc_timestamp;

/// The files whose presence means a directory holds a run (or a density measurement).
pub const RESULT_FILES: [&str; 4] = ["run.json", "density.json", "burst.json", SAMPLES_FILE];
/// The raw samples and failures, one JSON object a line, appended as the run goes.
pub const SAMPLES_FILE: &str = "samples.jsonl";
/// What `--force` removes besides [`RESULT_FILES`]: the renderings of the run it replaces
/// (the HTML writer removes stale charts itself).
const RENDERED_FILES: [&str; 6] = [
    "comparison.json",
    "run.csv",
    "run.md",
    "density.md",
    "burst.md",
    "index.html",
];
/// `results/<second>-2`, `-3`, … are tried when runs start in the same second; past this many
/// something else is wrong.
const MAX_SAME_SECOND_RUNS: u32 = 1000;

/// A directory this run owns: no other isobench writes into it while this is alive (an
/// exclusive `flock` on the directory, released when the run ends or dies, leaving no file).
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    _lock: File,
}

impl RunDir {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the directory for this run. `requested` is `--out` (`flag` names it in messages,
    /// e.g. "--out"); without it, a new `results/<UTC second><suffix>` is created, with `-2`,
    /// `-3`, … appended when another run took that name first (mkdir fails on EEXIST, so two
    /// runs never share one). A requested directory that holds a run is refused unless `force`
    /// (then that run's files are removed first).
    pub fn claim(
        requested: Option<&Path>,
        suffix: &str,
        force: bool,
        flag: &str,
    ) -> Result<RunDir> {
        let run_dir = match requested {
            Some(dir) => claim_requested(dir, force, flag)?,
            None => claim_new(
                Path::new("results"),
                &utc_timestamp().replace(':', "-"),
                suffix,
            )?,
        };
        prove_writable(&run_dir.path, flag)?;
        Ok(run_dir)
    }
}

/// Creates `parent/<stamp><suffix>` (or `…-2`, `-3`, …) exclusively and locks it.
fn claim_new(parent: &Path, stamp: &str, suffix: &str) -> Result<RunDir> {
    std::fs::create_dir_all(parent).with_context(|| {
        format!(
            "cannot create {}: run isobench from a writable directory, or pass --out DIR",
            parent.display()
        )
    })?;
    for attempt in 1..=MAX_SAME_SECOND_RUNS {
        let name = match attempt {
            1 => format!("{stamp}{suffix}"),
            n => format!("{stamp}{suffix}-{n}"),
        };
        let path = parent.join(name);
        match std::fs::create_dir(&path) {
            Ok(()) => {
                let lock = lock(&path)?.with_context(|| {
                    format!("{}: locked by another isobench just after it was created here — start the run again", path.display())
                })?;
                return Ok(RunDir { path, _lock: lock });
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                    "cannot create {}: run isobench from a writable directory, or pass --out DIR",
                    path.display()
                )
                })
            }
        }
    }
    bail!(
        "{}: {MAX_SAME_SECOND_RUNS} runs already started in this second — pass --out DIR",
        parent.join(format!("{stamp}{suffix}")).display()
    )
}

/// Creates `dir` if needed, locks it, and checks it holds no run (or clears it, with `force`).
fn claim_requested(dir: &Path, force: bool, flag: &str) -> Result<RunDir> {
    std::fs::create_dir_all(dir).with_context(|| {
        format!(
            "{flag} {}: cannot create the directory; choose a writable path",
            dir.display()
        )
    })?;
    let Some(lock) = lock(dir)? else {
        bail!(
            "{flag} {}: another isobench is writing its results there now; choose another directory",
            dir.display()
        );
    };
    let held: Vec<&str> = RESULT_FILES
        .into_iter()
        .filter(|name| dir.join(name).symlink_metadata().is_ok())
        .collect();
    if !held.is_empty() && !force {
        bail!(
            "{flag} {}: already holds a run ({}); choose another directory, or pass --force to replace it",
            dir.display(),
            held.join(", ")
        );
    }
    if force {
        for name in RESULT_FILES.iter().chain(&RENDERED_FILES) {
            match std::fs::remove_file(dir.join(name)) {
                Err(e) if e.kind() != ErrorKind::NotFound => {
                    return Err(e).with_context(|| {
                        format!("--force: cannot remove {}", dir.join(name).display())
                    })
                }
                _ => {}
            }
        }
    }
    Ok(RunDir {
        path: dir.to_path_buf(),
        _lock: lock,
    })
}

/// An exclusive lock on the directory itself, or None when another process holds it.
fn lock(dir: &Path) -> Result<Option<File>> {
    use std::os::fd::AsRawFd;
    let handle =
        File::open(dir).with_context(|| format!("cannot open {} to lock it", dir.display()))?;
    // flock(2) rather than File::try_lock, which is newer than the workspace's MSRV.
    // SAFETY: flock on a descriptor we own; it only takes an advisory lock.
    match unsafe { libc::flock(handle.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } {
        0 => Ok(Some(handle)),
        _ => match std::io::Error::last_os_error() {
            e if e.kind() == ErrorKind::WouldBlock => Ok(None),
            e => Err(e).with_context(|| format!("cannot lock {}", dir.display())),
        },
    }
}

/// Creates and removes a temporary file in `dir`, so a read-only or full directory fails now.
fn prove_writable(dir: &Path, flag: &str) -> Result<()> {
    tempfile::Builder::new()
        .prefix(".isobench-probe-write-")
        .tempfile_in(dir)
        .with_context(|| {
            format!(
                "{flag} {}: not writable; choose a writable path",
                dir.display()
            )
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_in_the_same_second_get_their_own_directories() {
        let parent = tempfile::tempdir().unwrap();
        let first = claim_new(parent.path(), "2026-01-01T00-00-00Z", "").unwrap();
        let second = claim_new(parent.path(), "2026-01-01T00-00-00Z", "").unwrap();
        assert_ne!(first.path(), second.path());
        assert!(second.path().ends_with("2026-01-01T00-00-00Z-2"));
    }

    #[test]
    fn a_locked_directory_is_refused_and_a_held_run_needs_force() {
        let dir = tempfile::tempdir().unwrap();
        let held = claim_requested(dir.path(), false, "--out").unwrap();
        let error = claim_requested(dir.path(), true, "--out").unwrap_err();
        assert!(error.to_string().contains("another isobench"), "{error}");
        drop(held);
        std::fs::write(dir.path().join("run.json"), "{}").unwrap();
        let error = claim_requested(dir.path(), false, "--out").unwrap_err();
        assert!(error.to_string().contains("--force"), "{error}");
        claim_requested(dir.path(), true, "--out").unwrap();
        assert!(!dir.path().join("run.json").exists(), "--force clears it");
    }
}
