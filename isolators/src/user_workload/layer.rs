//! Writes one layer (a tar stream) into a tree being unpacked: entries in archive order,
//! whiteouts honoured, hard links kept, device nodes skipped, and every path that could leave
//! the tree refused with the entry's name.
//!
//! Escapes are checked component by component with `lstat` (`symlink_metadata`), which never
//! follows a symlink: an entry with a `..` component or an absolute path is refused, and so is
//! one whose parent path goes through a symlink already in the tree (layer 1 `etc -> /`,
//! layer 2 `etc/passwd`). Files are created with `O_CREAT|O_EXCL`, which fails on a symlink
//! instead of following it. The check is race free because the tree is a private directory
//! of this process (a `.partial-<owner>` dir in the cache) that nothing else writes.
//! `openat2(RESOLVE_IN_ROOT)` was the alternative: it would re-root such a symlink and write
//! where the container would see the file, but an image entry written through a symlink is
//! almost always a crafted archive, so refusing it names the problem instead of hiding it.
use std::collections::HashSet;
use std::io::Read;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use tar::EntryType;

use super::UnpackError;

/// Name prefix of a whiteout entry: `.wh.NAME` removes NAME of lower layers.
const WHITEOUT_PREFIX: &str = ".wh.";
/// The whiteout that makes its directory opaque: nothing of lower layers shows through.
const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";

/// What applying layers left out.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LayerCounts {
    /// Device nodes, FIFOs and sockets: skipped (every isolator mounts its own /dev).
    pub special_files_skipped: u64,
    /// Entries written (directories, files, symlinks, hard links).
    pub entries_written: u64,
}

/// Reads a tar stream, remembering whether its end came from end of input rather than the
/// archive's end-of-archive block (tar-rs treats both alike: a truncated archive).
struct EndOfInputSeen<R> {
    inner: R,
    seen: bool,
}

impl<R: Read> Read for EndOfInputSeen<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.seen = true;
        }
        Ok(n)
    }
}

/// Applies the tar stream `layer` to `tree`. Returns the stream (read up to the archive's end
/// block) so the caller can finish a digest over it.
pub fn apply<R: Read>(layer: R, tree: &Path, counts: &mut LayerCounts) -> Result<R, UnpackError> {
    let mut archive = tar::Archive::new(EndOfInputSeen {
        inner: layer,
        seen: false,
    });
    let corrupt = |e: std::io::Error| UnpackError::Corrupt(format!("unreadable tar: {e}"));
    let mut written_here: HashSet<PathBuf> = HashSet::new();
    let running_as_root = nix::unistd::geteuid().is_root();
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let raw = entry.path().map_err(corrupt)?.into_owned();
        let Some(relative) = entry_path(&raw)? else {
            continue; // `./`: the root itself
        };
        let name = relative.file_name().unwrap_or_default().to_string_lossy();
        if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
            let parent = relative.parent().unwrap_or(Path::new(""));
            if name == OPAQUE_WHITEOUT {
                clear_opaque_dir(tree, parent, &raw, &written_here)?;
            } else if !hidden.starts_with(WHITEOUT_PREFIX) {
                remove_whited_out(tree, &parent.join(hidden), &raw)?;
            } // other `.wh..wh.*` names are aufs bookkeeping, not files
            continue;
        }
        let kind = entry.header().entry_type();
        if matches!(kind, EntryType::Char | EntryType::Block | EntryType::Fifo) {
            make_parents(tree, &relative, &raw)?; // /dev stays, as a mount point
            counts.special_files_skipped += 1;
            continue;
        }
        if !matches!(
            kind,
            EntryType::Directory
                | EntryType::Regular
                | EntryType::Continuous
                | EntryType::GNUSparse
                | EntryType::Symlink
                | EntryType::Link
        ) {
            continue; // PAX global headers and other metadata-only entries
        }
        make_parents(tree, &relative, &raw)?;
        let target = tree.join(&relative);
        let header = entry.header();
        let mode = header.mode().map_err(corrupt)? & 0o7777;
        let id = |value: u64| {
            u32::try_from(value).map_err(|_| {
                UnpackError::Corrupt(format!("{}: owner id {value} out of range", raw.display()))
            })
        };
        let owner = (
            id(header.uid().map_err(corrupt)?)?,
            id(header.gid().map_err(corrupt)?)?,
        );
        let mtime = header.mtime().map_err(corrupt)?;
        match kind {
            EntryType::Directory => {
                if !is_real_dir(&target) {
                    remove_existing(&target)?;
                    std::fs::create_dir(&target).map_err(io(&target))?;
                }
            }
            EntryType::Symlink | EntryType::Link => {
                let link_name = entry
                    .link_name()
                    .map_err(corrupt)?
                    .ok_or_else(|| {
                        UnpackError::Corrupt(format!("link {} names no target", raw.display()))
                    })?
                    .into_owned();
                remove_existing(&target)?;
                if kind == EntryType::Symlink {
                    std::os::unix::fs::symlink(&link_name, &target).map_err(io(&target))?;
                } else {
                    let source = hard_link_source(tree, &link_name, &raw)?;
                    std::fs::hard_link(&source, &target).map_err(io(&target))?;
                }
            }
            _ => {
                remove_existing(&target)?;
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true) // O_EXCL: never follows a symlink
                    .mode(0o600)
                    .open(&target)
                    .map_err(io(&target))?;
                let expected = entry.size();
                let copied = std::io::copy(&mut entry, &mut file).map_err(corrupt)?;
                if copied != expected {
                    return Err(UnpackError::Corrupt(format!(
                        "truncated tar: {} holds {copied} of its {expected} bytes",
                        raw.display()
                    )));
                }
                let modified = SystemTime::UNIX_EPOCH + Duration::from_secs(mtime);
                file.set_modified(modified).map_err(io(&target))?;
            }
        }
        if kind != EntryType::Link {
            if running_as_root {
                std::os::unix::fs::lchown(&target, Some(owner.0), Some(owner.1))
                    .map_err(io(&target))?;
            }
            if kind != EntryType::Symlink {
                std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode))
                    .map_err(io(&target))?;
            }
        }
        counts.entries_written += 1;
        written_here.insert(relative);
    }
    let stream = archive.into_inner();
    if stream.seen {
        return Err(UnpackError::Corrupt(
            "truncated tar: it ends without its end-of-archive block".into(),
        ));
    }
    Ok(stream.inner)
}

/// The entry's path relative to the tree: `./` and `.` components dropped, `..` and absolute
/// paths refused. None for the root itself.
pub fn entry_path(raw: &Path) -> Result<Option<PathBuf>, UnpackError> {
    let mut relative = PathBuf::new();
    for component in raw.components() {
        match component {
            Component::Normal(part) => relative.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(UnpackError::escape(raw, "has a `..` component"));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(UnpackError::escape(raw, "is an absolute path"));
            }
        }
    }
    Ok((!relative.as_os_str().is_empty()).then_some(relative))
}

/// Checks every parent of `relative` inside `tree`: directories pass, missing ones are created,
/// a symlink refuses the entry (writing through it could leave the tree).
fn make_parents(tree: &Path, relative: &Path, raw: &Path) -> Result<(), UnpackError> {
    walk_parents(tree, relative, raw, true).map(|_| ())
}

/// Walks the parents of `relative`; returns false when one is missing (and `create` is off).
fn walk_parents(
    tree: &Path,
    relative: &Path,
    raw: &Path,
    create: bool,
) -> Result<bool, UnpackError> {
    let mut at = tree.to_path_buf();
    let Some(parent) = relative.parent() else {
        return Ok(true);
    };
    for part in parent.components() {
        at.push(part);
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.is_dir() => {}
            Ok(meta) if meta.file_type().is_symlink() => {
                let inside = at.strip_prefix(tree).unwrap_or(&at);
                return Err(UnpackError::escape(
                    raw,
                    &format!(
                        "goes through the symlink {} already in the tree, which could lead outside it",
                        inside.display()
                    ),
                ));
            }
            Ok(_) => {
                let inside = at.strip_prefix(tree).unwrap_or(&at);
                return Err(UnpackError::Corrupt(format!(
                    "{}: its parent {} is not a directory",
                    raw.display(),
                    inside.display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                std::fs::create_dir(&at).map_err(io(&at))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io(&at)(e)),
        }
    }
    Ok(true)
}

/// The file a hard link entry points at: inside the tree, reached without symlinks, present.
fn hard_link_source(tree: &Path, link_name: &Path, raw: &Path) -> Result<PathBuf, UnpackError> {
    let relative = entry_path(link_name)
        .map_err(|_| {
            UnpackError::escape(
                raw,
                &format!(
                    "is a hard link to {}, outside the root",
                    link_name.display()
                ),
            )
        })?
        .ok_or_else(|| UnpackError::escape(raw, "is a hard link to the root directory"))?;
    let present = walk_parents(tree, &relative, raw, false)?;
    let source = tree.join(&relative);
    match std::fs::symlink_metadata(&source) {
        Ok(meta) if present && !meta.is_dir() => Ok(source),
        _ => Err(UnpackError::Corrupt(format!(
            "{} is a hard link to {}, which no earlier entry created",
            raw.display(),
            link_name.display()
        ))),
    }
}

/// `.wh.NAME`: removes NAME (whatever it is) of lower layers.
fn remove_whited_out(tree: &Path, relative: &Path, raw: &Path) -> Result<(), UnpackError> {
    if walk_parents(tree, relative, raw, false)? {
        remove_existing(&tree.join(relative))?;
    }
    Ok(())
}

/// `.wh..wh..opq` in DIR: removes what lower layers put in DIR, keeps this layer's entries.
fn clear_opaque_dir(
    tree: &Path,
    dir: &Path,
    raw: &Path,
    written_here: &HashSet<PathBuf>,
) -> Result<(), UnpackError> {
    if !walk_parents(tree, &dir.join("x"), raw, false)? {
        return Ok(());
    }
    let at = tree.join(dir);
    if !is_real_dir(&at) {
        return Ok(());
    }
    for child in std::fs::read_dir(&at).map_err(io(&at))? {
        let child = child.map_err(io(&at))?;
        if !written_here.contains(&dir.join(child.file_name())) {
            remove_existing(&child.path())?;
        }
    }
    Ok(())
}

fn is_real_dir(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

/// Removes what is at `path` without following it: a symlink is removed, not its target.
fn remove_existing(path: &Path) -> Result<(), UnpackError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path).map_err(io(path)),
        Ok(_) => std::fs::remove_file(path).map_err(io(path)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(path)(e)),
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> UnpackError + '_ {
    move |source| UnpackError::Io {
        what: path.display().to_string(),
        source,
    }
}
