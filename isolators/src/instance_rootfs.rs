//! The rootfs a container-class isolator (container, OCI runtimes, bwrap, unshare, lxc, docker,
//! podman) runs: the probe's own minimal one, or with a user workload (`--rootfs`) the user's
//! tree linked into the scratch dir with the probe, the spec and the mount points the isolators
//! mount over — and the disk footprint of either.
//!
//! A user's tree may lack `/proc`, `/dev`, `/sys`, `/tmp` or `/run`; they are created in the
//! per-isolator copy ([`UserWorkload::instance_rootfs`] copies directories, so the user's own
//! tree is never written to). Every isolator keeps the root read-only and gives the command a
//! writable tmpfs at each of [`USER_TMPFS_DIRS`].
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::disk::DiskFootprint;
use crate::isolator::Availability;
use crate::probe::write_rootfs;
use crate::user_workload::UserWorkload;
use crate::Error;

/// Where a user's command gets a writable, empty tmpfs in every container-class isolator.
pub const USER_TMPFS_DIRS: [&str; 2] = ["/tmp", "/run"];

/// Directories every isolator mounts something on; created in the copy when the tree lacks them.
const MOUNT_POINTS: [&str; 5] = ["proc", "dev", "sys", "tmp", "run"];

/// `scratch/rootfs`: the probe's own rootfs, or the user's tree with the probe and the spec.
pub fn write(user: Option<&UserWorkload>, scratch: &Path) -> Result<PathBuf, Error> {
    let Some(user) = user else {
        return write_rootfs(scratch);
    };
    let rootfs = user.instance_rootfs(scratch)?;
    for name in MOUNT_POINTS {
        let dir = rootfs.join(name);
        match std::fs::symlink_metadata(&dir) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(Error::BadInput(format!(
                    "--rootfs {}: /{name} is not a directory; isolators mount over it — make it an empty directory",
                    user.rootfs.given.display()
                )))
            }
            Err(_) => {
                std::fs::create_dir(&dir)
                    .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
                let mode = if name == "tmp" { 0o1777 } else { 0o755 };
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode))
                    .map_err(|e| Error::io(format!("chmod {}", dir.display()), e))?;
            }
        }
    }
    Ok(rootfs)
}

/// Why a container-class isolator cannot run `user`: the host's own root (`--rootfs /`), which
/// only the process baseline runs as it is. Checked by their `availability`.
pub fn host_root_refusal(user: Option<&UserWorkload>) -> Option<Availability> {
    user.filter(|u| u.rootfs.is_host()).map(|_| {
        Availability::unavailable(
            "--rootfs / is the host's own root: only the process baseline runs it; give a rootfs directory or image",
        )
    })
}

/// The tmpfs mounts an instance needs: [`USER_TMPFS_DIRS`] for a user workload, none for the
/// probe alone (its rootfs stays read-only with nothing writable).
pub fn tmpfs_dirs(user: Option<&UserWorkload>) -> &'static [&'static str] {
    match user {
        Some(_) => &USER_TMPFS_DIRS,
        None => &[],
    }
}

/// The disk footprint of `executables` (runtime) plus `rootfs` and `extra_image` files. A
/// user's rootfs counts as its tree ([`crate::user_workload::UserRootfs::footprint`]: each
/// inode once, so the hard-linked copy adds nothing) plus the probe and the spec added to the
/// copy, and is listed as one entry, the tree, so a Debian tree does not list thousands of
/// files in run.json.
pub fn disk(
    executables: &[PathBuf],
    rootfs: &Path,
    extra_image: &[PathBuf],
    user: Option<&UserWorkload>,
) -> Result<DiskFootprint, Error> {
    let mut image = vec![rootfs.to_path_buf()];
    let Some(user) = user else {
        image.extend_from_slice(extra_image);
        return crate::disk::measure(executables, &image);
    };
    let added = [
        rootfs.join(crate::probe::PROBE_NAME),
        rootfs.join(isobench_protocol::user_command::SPEC_FILE_NAME),
    ];
    let mut footprint = crate::disk::measure(executables, &[&added[..], extra_image].concat())?;
    let tree = user.rootfs.footprint()?;
    footprint.image_apparent_bytes += tree.apparent_bytes;
    footprint.image_allocated_bytes += tree.allocated_bytes;
    footprint
        .image_files
        .push(user.rootfs.tree.to_string_lossy().into_owned());
    Ok(footprint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user_workload::UserRootfs;

    fn workload(tree: &Path) -> UserWorkload {
        UserWorkload {
            rootfs: UserRootfs::open(tree).unwrap(),
            command: crate::user_workload::tests::command(),
        }
    }

    #[test]
    fn mount_points_are_made_in_the_copy_only() {
        let tree = tempfile::tempdir().unwrap();
        std::fs::create_dir(tree.path().join("proc")).unwrap();
        std::fs::write(tree.path().join("data"), vec![1u8; 10_000]).unwrap();
        std::fs::hard_link(tree.path().join("data"), tree.path().join("same")).unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let user = workload(tree.path());
        let rootfs = write(Some(&user), scratch.path()).unwrap();
        for name in MOUNT_POINTS {
            assert!(rootfs.join(name).is_dir(), "{name}");
        }
        use std::os::unix::fs::MetadataExt;
        let tmp_mode = std::fs::metadata(rootfs.join("tmp")).unwrap().mode() & 0o7777;
        assert_eq!(tmp_mode, 0o1777);
        assert!(!tree.path().join("tmp").exists());
        assert!(!tree.path().join("dev").exists());
        // The data file and its second name count once; the probe and the spec add theirs.
        let footprint = disk(&[], &rootfs, &[], Some(&user)).unwrap();
        let probe = crate::probe::PROBE_BYTES.len() as u64;
        let spec = user.command.to_spec().len() as u64;
        assert_eq!(footprint.image_apparent_bytes, 10_000 + probe + spec);
        assert_eq!(
            footprint.image_files.last(),
            Some(&user.rootfs.tree.to_string_lossy().into_owned())
        );
        assert_eq!(
            footprint.image_files.len(),
            3,
            "{:?}",
            footprint.image_files
        );
        assert_eq!(tmpfs_dirs(Some(&user)), USER_TMPFS_DIRS);
        assert!(tmpfs_dirs(None).is_empty());
    }

    #[test]
    fn a_mount_point_that_is_a_file_is_refused_in_one_line() {
        let tree = tempfile::tempdir().unwrap();
        std::fs::write(tree.path().join("proc"), b"not a dir").unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let error = write(Some(&workload(tree.path())), scratch.path()).unwrap_err();
        let text = error.to_string();
        assert!(text.contains("/proc is not a directory"), "{text}");
        assert!(!text.contains('\n'), "{text}");
    }
}
