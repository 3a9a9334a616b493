//! The initramfs of a Linux guest running the user's workload: the user's root filesystem tree
//! with the probe as `/init`, the spec at `/isobench-workload` and `dev/console`, planned from
//! the tree's metadata (so its exact size is known before a byte is written) and streamed to
//! a file, never held in memory.
//!
//! What the walk keeps: directories, regular files (hard links within the tree as newc hard
//! links: one inode number, the data on the last name, as GNU cpio writes them and the kernel
//! reads them), symbolic links as they are; modes and owners kept. What it drops: device
//! nodes, FIFOs and sockets (the guest mounts devtmpfs on /dev), and the tree's own `/init`
//! and `/isobench-workload`, which the probe and the spec replace.
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write as _;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use isobench_protocol::user_command::SPEC_FILE_NAME;

use super::cpio::{self, Header, S_IFCHR, S_IFDIR, S_IFLNK, S_IFREG};
use crate::probe::PROBE_BYTES;
use crate::user_workload::UserWorkload;
use crate::Error;

/// The file-type bits of a mode.
const S_IFMT: u32 = 0o170000;

/// Mount points the guest's init (the probe's exec supervisor) uses; added when the tree
/// lacks them.
const MOUNT_POINTS: [(&str, u32); 5] = [
    ("dev", 0o755),
    ("proc", 0o555),
    ("sys", 0o555),
    ("tmp", 0o1777),
    ("run", 0o755),
];
/// Top-level names the walk leaves out because isobench puts its own there.
const REPLACED: [&str; 2] = ["init", SPEC_FILE_NAME];

/// Where a member's data comes from.
#[derive(Debug)]
enum Data {
    None,
    /// A regular file of the tree, read while writing.
    File(PathBuf),
    /// In memory: a symlink's target, the spec.
    Bytes(Vec<u8>),
    /// The probe, built into isobench.
    Static(&'static [u8]),
}

#[derive(Debug)]
struct Member {
    name: Vec<u8>,
    header: Header,
    data: Data,
}

/// Every member of the archive, in order, with their sizes: what [`InitramfsPlan::write`]
/// streams.
#[derive(Debug)]
pub struct InitramfsPlan {
    members: Vec<Member>,
    /// The exact size of the archive, trailer included.
    pub archive_bytes: u64,
    /// Device nodes, FIFOs and sockets of the tree left out.
    pub skipped_special_files: usize,
}

/// What a walk gathers beside the members.
#[derive(Default)]
struct Walk {
    members: Vec<Member>,
    /// (device, inode) of a regular file with more than one link → its members' indices.
    links: HashMap<(u64, u64), Vec<usize>>,
    skipped_special_files: usize,
}

impl InitramfsPlan {
    /// Plans the archive for `workload`: the mount points its tree lacks, the tree (read only,
    /// never written to), then `dev/console`, the probe as `init` and the spec.
    pub fn for_workload(workload: &UserWorkload) -> Result<InitramfsPlan, Error> {
        let tree = &workload.rootfs.tree;
        let mut walk = Walk::default();
        for (name, mode) in MOUNT_POINTS {
            if std::fs::symlink_metadata(tree.join(name)).is_err() {
                walk.push(name.as_bytes().to_vec(), S_IFDIR | mode, (0, 0), Data::None);
            }
        }
        walk.directory(tree, &[])?;
        walk.push(b"dev/console".to_vec(), S_IFCHR | 0o600, (0, 0), Data::None);
        walk.members.last_mut().expect("just pushed").header.rdev = (5, 1);
        walk.push(
            b"init".to_vec(),
            S_IFREG | 0o755,
            (0, 0),
            Data::Static(PROBE_BYTES),
        );
        let spec = workload.command.to_spec().into_bytes();
        walk.push(
            SPEC_FILE_NAME.as_bytes().to_vec(),
            S_IFREG | 0o644,
            (0, 0),
            Data::Bytes(spec),
        );
        Ok(walk.into_plan())
    }

    /// Streams the archive to `path` (created; removed again if writing fails).
    pub fn write(&self, path: &Path) -> Result<(), Error> {
        let result = self.write_to(path);
        if result.is_err() {
            let _ = std::fs::remove_file(path);
        }
        result
    }

    fn write_to(&self, path: &Path) -> Result<(), Error> {
        let write_failed =
            |e| Error::io(format!("cannot write the initramfs {}", path.display()), e);
        let file = std::fs::File::create(path)
            .map_err(|e| Error::io(format!("cannot create the initramfs {}", path.display()), e))?;
        let mut writer = cpio::Writer::new(std::io::BufWriter::with_capacity(1 << 20, file));
        for member in &self.members {
            match &member.data {
                Data::None => writer
                    .member(&member.name, &member.header, &[])
                    .map_err(write_failed)?,
                Data::Bytes(bytes) => writer
                    .member(&member.name, &member.header, bytes)
                    .map_err(write_failed)?,
                Data::Static(bytes) => writer
                    .member(&member.name, &member.header, bytes)
                    .map_err(write_failed)?,
                Data::File(source) => {
                    let packing_failed =
                        |e| Error::io(format!("cannot pack {}", source.display()), e);
                    let mut file = std::fs::File::open(source).map_err(packing_failed)?;
                    writer
                        .member_from(&member.name, &member.header, &mut file)
                        .map_err(packing_failed)?;
                }
            }
        }
        let written = writer.written_bytes() + cpio::trailer_bytes();
        writer
            .finish()
            .and_then(|mut out| out.flush())
            .map_err(write_failed)?;
        debug_assert_eq!(written, self.archive_bytes);
        Ok(())
    }
}

impl Walk {
    fn push(&mut self, name: Vec<u8>, mode: u32, owner: (u32, u32), data: Data) {
        let size_bytes = match &data {
            Data::Bytes(bytes) => bytes.len() as u64,
            Data::Static(bytes) => bytes.len() as u64,
            Data::None | Data::File(_) => 0,
        };
        let header = Header {
            inode: 0, // numbered in `into_plan`
            mode,
            owner,
            links: if mode & S_IFMT == S_IFDIR { 2 } else { 1 },
            size_bytes,
            rdev: (0, 0),
        };
        self.members.push(Member { name, header, data });
    }

    /// Adds the entries of `dir` (at `prefix` inside the archive), depth first, sorted by name
    /// so archives are reproducible.
    fn directory(&mut self, dir: &Path, prefix: &[u8]) -> Result<(), Error> {
        let listing = |e| Error::io(format!("cannot list {}", dir.display()), e);
        let mut names: Vec<OsString> = std::fs::read_dir(dir)
            .map_err(listing)?
            .map(|entry| entry.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(listing)?;
        names.sort();
        for name in names {
            if prefix.is_empty() && REPLACED.iter().any(|r| name == *r) {
                continue;
            }
            let source = dir.join(&name);
            let mut archive_name = prefix.to_vec();
            if !prefix.is_empty() {
                archive_name.push(b'/');
            }
            archive_name.extend_from_slice(name.as_bytes());
            self.entry(&source, archive_name)?;
        }
        Ok(())
    }

    fn entry(&mut self, source: &Path, name: Vec<u8>) -> Result<(), Error> {
        let meta = std::fs::symlink_metadata(source)
            .map_err(|e| Error::io(format!("cannot read {}", source.display()), e))?;
        let kind = meta.file_type();
        let owner = (meta.uid(), meta.gid());
        let mode = meta.mode() & 0o7777;
        if kind.is_dir() {
            self.push(name.clone(), S_IFDIR | mode, owner, Data::None);
            return self.directory(source, &name);
        }
        if kind.is_symlink() {
            let target = std::fs::read_link(source)
                .map_err(|e| Error::io(format!("cannot read {}", source.display()), e))?;
            let target = target.into_os_string().into_vec();
            self.push(name, S_IFLNK | 0o777, owner, Data::Bytes(target));
            return Ok(());
        }
        if !kind.is_file() {
            self.skipped_special_files += 1;
            return Ok(());
        }
        cpio::check_member(&name, meta.len()).map_err(|e| Error::BadInput(e.to_string()))?;
        self.push(
            name,
            S_IFREG | mode,
            owner,
            Data::File(source.to_path_buf()),
        );
        let index = self.members.len() - 1;
        self.members[index].header.size_bytes = meta.len();
        if meta.nlink() > 1 {
            self.links
                .entry((meta.dev(), meta.ino()))
                .or_default()
                .push(index);
        }
        Ok(())
    }

    /// Numbers the inodes (names of one hard-linked file share one, and only the last name
    /// carries the data) and sums the sizes.
    fn into_plan(mut self) -> InitramfsPlan {
        for (inode, member) in (1u32..).zip(self.members.iter_mut()) {
            member.header.inode = inode;
        }
        for indices in self.links.values().filter(|i| i.len() > 1) {
            let inode = self.members[indices[0]].header.inode;
            for (position, &index) in indices.iter().enumerate() {
                let header = &mut self.members[index].header;
                header.inode = inode;
                header.links = indices.len() as u32;
                if position + 1 < indices.len() {
                    header.size_bytes = 0;
                }
            }
        }
        let archive_bytes = self
            .members
            .iter()
            .map(|m| cpio::member_bytes(m.name.len(), m.header.size_bytes))
            .sum::<u64>()
            + cpio::trailer_bytes();
        InitramfsPlan {
            members: self.members,
            archive_bytes,
            skipped_special_files: self.skipped_special_files,
        }
    }
}
