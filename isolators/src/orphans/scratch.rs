//! Orphaned scratch dirs: `isobench-<owner tag>-*` directories in the temp dir whose owner is
//! gone (an isolator's rootfs, OCI bundles and state, lxcpath, io dirs, logs; a kernel fetch's
//! work dir), the mounts below them, and LXC's lock directory for an lxcpath inside one; and
//! `.partial-<owner tag>-*` files (and unpack dirs) a gone writer left in the cache.
use std::path::{Path, PathBuf};

use super::owner::{Claim, Liveness};
use super::Reaped;

/// Removes every orphaned scratch dir in `tmp_dir`, unmounting what is mounted below it first.
pub fn reap(tmp_dir: &Path, reaped: &mut Reaped) {
    let Ok(entries) = std::fs::read_dir(tmp_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("isobench-") || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        // Scratch dirs were always tagged; a pid alone never marks one as ours to remove.
        let Some(claim) = Claim::parse(&name, false) else {
            continue;
        };
        if claim.liveness() != Liveness::Gone || !super::may_remove(&entry.path()) {
            continue;
        }
        reaped.owners.insert(claim.pid());
        let dir = entry.path();
        match remove_scratch(&dir, reaped) {
            Ok(()) => reaped.scratch_dirs.push(dir),
            Err(failure) => reaped.failures.push(failure),
        }
    }
}

fn remove_scratch(dir: &Path, reaped: &mut Reaped) -> Result<(), String> {
    let canonical = dir
        .canonicalize()
        .map_err(|e| format!("cannot resolve {}: {e}", dir.display()))?;
    for mount in mounts_below(&canonical) {
        nix::mount::umount2(&mount, nix::mount::MntFlags::MNT_DETACH)
            .map_err(|e| format!("cannot unmount {}: {e}", mount.display()))?;
        reaped.mounts.push(mount);
    }
    // Never recurse through a mount into a file system that is not the scratch dir's own.
    if let Some(mount) = mounts_below(&canonical).first() {
        return Err(format!(
            "{} is still mounted; {} stays",
            mount.display(),
            dir.display()
        ));
    }
    let lock_dir = lxc_lock_dir(&canonical);
    std::fs::remove_dir_all(dir).map_err(|e| format!("cannot remove {}: {e}", dir.display()))?;
    if lock_dir.is_dir() && std::fs::remove_dir_all(&lock_dir).is_ok() {
        reaped.other.push(lock_dir);
    }
    Ok(())
}

/// LXC's lock directory for any lxcpath inside the scratch dir (`/run/lxc/lock/<scratch>`).
fn lxc_lock_dir(scratch: &Path) -> PathBuf {
    let lxc = crate::external::lxc::config::lock_dir(&crate::external::lxc::lxcpath_in(scratch));
    lxc.parent().map(Path::to_path_buf).unwrap_or(lxc)
}

/// Mount points at or below `dir` (canonical), deepest first, from /proc/self/mountinfo.
pub fn mounts_below(dir: &Path) -> Vec<PathBuf> {
    let mut mounts: Vec<PathBuf> = procfs::process::Process::myself()
        .and_then(|p| p.mountinfo())
        .map(|infos| {
            infos
                .into_iter()
                .map(|m| m.mount_point)
                .filter(|point| point.starts_with(dir))
                .collect()
        })
        .unwrap_or_default();
    // Stacked mounts on one point stay listed once each: each needs its own unmount.
    mounts.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
    mounts
}

/// How deep below the cache dir partial files are looked for (`bin/<hash>/`, `kernel/<hash>/`,
/// `rootfs/<sha256>/`).
const CACHE_DEPTH: usize = 3;

/// Removes `.partial-<tag>-*` files, and directories (a rootfs archive being unpacked), whose
/// writer is gone, up to [`CACHE_DEPTH`] levels below `cache_dir`.
pub fn reap_partial_files(cache_dir: &Path, reaped: &mut Reaped) {
    let mut stack = vec![(cache_dir.to_path_buf(), 0)];
    while let Some((dir, depth)) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(tagged) = name.strip_prefix(super::PARTIAL_PREFIX) else {
                if kind.is_dir() && depth + 1 < CACHE_DEPTH {
                    stack.push((entry.path(), depth + 1));
                }
                continue;
            };
            let Some(claim) = Claim::parse(tagged, false) else {
                continue;
            };
            if !(kind.is_file() || kind.is_dir())
                || claim.liveness() != Liveness::Gone
                || !super::may_remove(&entry.path())
            {
                continue;
            }
            reaped.owners.insert(claim.pid());
            let removed = if kind.is_dir() {
                std::fs::remove_dir_all(entry.path())
            } else {
                std::fs::remove_file(entry.path())
            };
            match removed {
                Ok(()) => reaped.other.push(entry.path()),
                Err(e) => reaped
                    .failures
                    .push(format!("cannot remove {}: {e}", entry.path().display())),
            }
        }
    }
}
