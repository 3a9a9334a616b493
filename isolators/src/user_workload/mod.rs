//! The user's workload (`isobench run --rootfs … --cmd … --ready …`): its root filesystem, the
//! command the probe supervises in `exec` mode, and the per-isolator rootfs that carries both.
//!
//! Every container-class isolator gets [`UserWorkload::instance_rootfs`]: a hard-link copy of
//! the user's tree (so the source is never written to, and the copy costs no data blocks) with
//! the probe at `/isobench-probe` and the spec at `/isobench-workload`. VMs pack the same tree
//! into their initramfs.
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use isobench_protocol::user_command::{UserCommand, SPEC_FILE_NAME};

use crate::probe::write_probe;
use crate::Error;

pub mod archive;
pub mod footprint;
pub mod image;
pub mod layer;

pub use archive::Unpacked;
pub use footprint::{tree_footprint, TreeFootprint};

/// Where the user's root filesystem came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootfsSource {
    /// A directory given with `--rootfs DIR`, used in place (read only).
    Directory,
    /// The host's own root (`--rootfs /`): only the process baseline can run it as it is.
    Host,
    /// A tar archive of a root filesystem (plain or compressed), unpacked into the cache.
    Tarball,
    /// An image saved by `docker save`, its layers unpacked into the cache.
    DockerArchive,
    /// An OCI image layout (directory or tarball), its layers unpacked into the cache.
    OciLayout,
}

/// Why an archive cannot be unpacked; [`UserRootfs::open`] puts `--rootfs PATH:` before it.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("corrupt image: {0} — re-create the archive (tar, `docker save`) and try again")]
    Corrupt(String),
    #[error("entry `{entry}` {why}: refused, the archive would write outside its root")]
    Escape { entry: String, why: String },
    #[error("{0}")]
    Refused(String),
    #[error("not a directory nor a tar archive (plain, gzip, zstd, xz or bzip2) — give a rootfs directory, a tarball, a `docker save` archive or an OCI layout")]
    NotAnArchive,
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

impl UnpackError {
    pub fn escape(entry: &Path, why: &str) -> UnpackError {
        UnpackError::Escape {
            entry: entry.display().to_string(),
            why: why.to_owned(),
        }
    }
}

/// A root filesystem tree ready to be copied into isolates.
#[derive(Debug, Clone)]
pub struct UserRootfs {
    /// What the user gave (`--rootfs`).
    pub given: PathBuf,
    /// The tree itself: the directory given, or where an archive was unpacked.
    pub tree: PathBuf,
    pub source: RootfsSource,
    /// For an archive: what was unpacked (format, layers, device nodes skipped, cache key).
    pub unpacked: Option<Unpacked>,
}

impl UserRootfs {
    /// Opens `--rootfs PATH`: a rootfs directory, an OCI layout directory, or an archive file
    /// (tarball, `docker save`, OCI layout tarball), told apart by content, not by name.
    /// Archives are unpacked once into `<cache>/rootfs/<sha256>/tree`.
    pub fn open(path: &Path) -> Result<UserRootfs, Error> {
        let meta = std::fs::metadata(path).map_err(|e| {
            Error::BadInput(format!(
                "--rootfs {}: {e} — give a directory, a tarball, a `docker save` archive or an OCI layout",
                path.display()
            ))
        })?;
        let unpacked = if meta.is_dir() && path.join("oci-layout").is_file() {
            Some(archive::open_oci_dir(path))
        } else if meta.is_dir() {
            None
        } else {
            Some(archive::open_file(path))
        };
        let (tree, source, unpacked) = match unpacked {
            Some(result) => {
                let (tree, unpacked) = result.map_err(|e| match e {
                    UnpackError::Io { what, source } => {
                        Error::io(format!("--rootfs {}: {what}", path.display()), source)
                    }
                    other => Error::BadInput(format!("--rootfs {}: {other}", path.display())),
                })?;
                (tree, unpacked.source(), Some(unpacked))
            }
            None => {
                let tree = path
                    .canonicalize()
                    .map_err(|e| Error::io(format!("--rootfs {}", path.display()), e))?;
                let source = if tree == Path::new("/") {
                    RootfsSource::Host
                } else {
                    RootfsSource::Directory
                };
                (tree, source, None)
            }
        };
        Ok(UserRootfs {
            given: path.to_path_buf(),
            tree,
            source,
            unpacked,
        })
    }

    pub fn is_host(&self) -> bool {
        self.source == RootfsSource::Host
    }

    /// One line for records and logs: what was given and what it became, e.g. `docker save
    /// archive web.tar (2 layers, sha256 1a81de548a55…, 8 device nodes skipped) unpacked in …`.
    pub fn describe(&self) -> String {
        let given = self.given.display();
        let Some(unpacked) = &self.unpacked else {
            return match self.source {
                RootfsSource::Host => "the host's root /".to_owned(),
                _ => format!("directory {}", self.tree.display()),
            };
        };
        let kind = match self.source {
            RootfsSource::DockerArchive => "docker save archive",
            RootfsSource::OciLayout => "OCI image layout",
            _ => "tarball",
        };
        let layers = match unpacked.layers {
            1 => "1 layer".to_owned(),
            n => format!("{n} layers"),
        };
        let skipped = match unpacked.special_files_skipped {
            0 => String::new(),
            n => format!(", {n} device nodes and FIFOs skipped"),
        };
        let key = unpacked
            .sha256_hex
            .get(..12)
            .unwrap_or(&unpacked.sha256_hex);
        format!(
            "{kind} {given} ({layers}, sha256 {key}…{skipped}) unpacked in {}",
            self.tree.display()
        )
    }

    /// Disk footprint of the tree: regular files, hard links counted once. What an isolator
    /// adds to its DiskFootprint's `image_*` fields for the user's rootfs.
    pub fn footprint(&self) -> Result<TreeFootprint, Error> {
        tree_footprint(&self.tree)
    }

    /// Bytes the tree's files take when copied into RAM (an initramfs): its apparent size.
    /// The VM isolators compare it with guest memory.
    pub fn apparent_bytes(&self) -> Result<u64, Error> {
        Ok(self.footprint()?.apparent_bytes)
    }
}

/// The user's rootfs and command, shared by every isolator of a run.
#[derive(Debug, Clone)]
pub struct UserWorkload {
    pub rootfs: UserRootfs,
    pub command: UserCommand,
}

impl UserWorkload {
    /// Writes the spec file into `dir` and returns its path.
    pub fn write_spec(&self, dir: &Path) -> Result<PathBuf, Error> {
        let path = dir.join(SPEC_FILE_NAME);
        std::fs::write(&path, self.command.to_spec())
            .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))?;
        Ok(path)
    }

    /// `scratch/rootfs`: the user's tree hard-linked (copied across file systems), plus the
    /// probe and the spec at its root. Returns its path.
    pub fn instance_rootfs(&self, scratch: &Path) -> Result<PathBuf, Error> {
        if self.rootfs.is_host() {
            return Err(Error::Unavailable(
                "--rootfs / is the host's own root: only the process baseline runs it as it is; give a rootfs directory or image".into(),
            ));
        }
        let rootfs = scratch.join("rootfs");
        link_tree(&self.rootfs.tree, &rootfs)?;
        write_probe(&rootfs)?;
        self.write_spec(&rootfs)?;
        Ok(rootfs)
    }
}

/// Recreates `from` at `to`: directories with their modes, regular files hard-linked (copied
/// when the link fails, e.g. across file systems), symlinks as they are. Other file types
/// (devices, FIFOs, sockets) are skipped: isolators mount their own /dev.
fn link_tree(from: &Path, to: &Path) -> Result<(), Error> {
    let meta = std::fs::symlink_metadata(from)
        .map_err(|e| Error::io(format!("cannot read {}", from.display()), e))?;
    std::fs::create_dir(to).map_err(|e| Error::io(format!("cannot create {}", to.display()), e))?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(meta.mode() & 0o7777))
        .map_err(|e| Error::io(format!("chmod {}", to.display()), e))?;
    let entries = std::fs::read_dir(from)
        .map_err(|e| Error::io(format!("cannot list {}", from.display()), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("cannot list {}", from.display()), e))?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        let kind = entry
            .file_type()
            .map_err(|e| Error::io(format!("cannot stat {}", source.display()), e))?;
        let result = if kind.is_dir() {
            link_tree(&source, &target).map(|_| ())
        } else if kind.is_symlink() {
            std::fs::read_link(&source)
                .and_then(|dest| std::os::unix::fs::symlink(dest, &target))
                .map_err(|e| Error::io(format!("cannot copy symlink {}", source.display()), e))
        } else if kind.is_file() {
            std::fs::hard_link(&source, &target)
                .or_else(|_| std::fs::copy(&source, &target).map(|_| ()))
                .map_err(|e| Error::io(format!("cannot copy {}", source.display()), e))
        } else {
            Ok(())
        };
        result?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use isobench_protocol::ReadyCheck;

    /// `/bin/true`, ready when it exits 0: the command other modules' tests use too.
    pub(crate) fn command() -> UserCommand {
        UserCommand {
            argv: vec!["/bin/true".into()],
            env: vec![],
            workdir: "/".into(),
            ready: ReadyCheck::Exit { code: 0 },
            ready_timeout_ms: 1000,
            stop_grace_ms: 100,
        }
    }

    #[test]
    fn instance_rootfs_links_the_tree_and_adds_probe_and_spec() {
        let source = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(source.path().join("usr/bin")).unwrap();
        std::fs::write(source.path().join("usr/bin/tool"), b"x").unwrap();
        std::os::unix::fs::symlink("usr/bin", source.path().join("bin")).unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let workload = UserWorkload {
            rootfs: UserRootfs::open(source.path()).unwrap(),
            command: command(),
        };
        let rootfs = workload.instance_rootfs(scratch.path()).unwrap();
        let linked = std::fs::metadata(rootfs.join("usr/bin/tool")).unwrap();
        let original = std::fs::metadata(source.path().join("usr/bin/tool")).unwrap();
        assert_eq!(linked.ino(), original.ino());
        assert_eq!(
            std::fs::read_link(rootfs.join("bin")).unwrap(),
            Path::new("usr/bin")
        );
        assert!(rootfs.join("isobench-probe").is_file());
        let spec = std::fs::read_to_string(rootfs.join(SPEC_FILE_NAME)).unwrap();
        assert_eq!(UserCommand::from_spec(&spec).unwrap(), command());
        assert!(!source.path().join("isobench-probe").exists());
    }

    #[test]
    fn host_root_is_for_the_process_baseline_only() {
        let workload = UserWorkload {
            rootfs: UserRootfs::open(Path::new("/")).unwrap(),
            command: command(),
        };
        assert!(workload.rootfs.is_host());
        assert_eq!(workload.rootfs.describe(), "the host's root /");
        let error = workload
            .instance_rootfs(Path::new("/nonexistent"))
            .unwrap_err();
        assert!(
            error.to_string().contains("only the process baseline"),
            "{error}"
        );
    }
}
