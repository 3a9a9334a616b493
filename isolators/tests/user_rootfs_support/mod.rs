//! Builders for the archives tests/user_rootfs.rs unpacks: tarballs with raw entry names
//! (the tar crate's own path checks would refuse the hostile ones), `docker save` archives and
//! OCI layouts with real sha256 digests, plus a Docker-made image, and cache inspection.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use isolators::user_workload::UserRootfs;
use sha2::{Digest, Sha256};

pub use Item::*;

/// Where scripts/make-debian-rootfs.sh leaves its tree (and `<it>.tar`).
pub const DEBIAN_ROOTFS: &str = "/var/cache/isobench/debian-rootfs";

/// One tar entry.
pub enum Item<'a> {
    Dir(&'a str, u32),
    File(&'a str, &'a [u8], u32),
    Symlink(&'a str, &'a str),
    /// A hard link: its name, then the entry it links to.
    Hard(&'a str, &'a str),
    /// A character device (1, 3), as /dev/null.
    Device(&'a str),
}

/// The test binary's own isobench cache (ISOBENCH_CACHE), emptied once per run.
pub fn cache() -> PathBuf {
    static CACHE: OnceLock<PathBuf> = OnceLock::new();
    CACHE
        .get_or_init(|| {
            // One per test binary: each empties its own.
            let name = format!("cache-{}", env!("CARGO_CRATE_NAME"));
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            // Set before any test opens an archive: every test calls this first.
            std::env::set_var("ISOBENCH_CACHE", &dir);
            dir
        })
        .clone()
}

/// A tar archive of `items`, names written as given (`../x`, `/abs` included).
pub fn tar_of(items: &[Item]) -> Vec<u8> {
    cache();
    let mut builder = tar::Builder::new(Vec::new());
    for item in items {
        let mut header = tar::Header::new_gnu();
        let (name, data): (&str, &[u8]) = match item {
            Dir(name, mode) => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(*mode);
                (name, b"")
            }
            File(name, data, mode) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                (name, data)
            }
            Symlink(name, target) | Hard(name, target) => {
                let kind = match item {
                    Symlink(..) => tar::EntryType::Symlink,
                    _ => tar::EntryType::Link,
                };
                header.set_entry_type(kind);
                header.set_mode(0o777);
                raw_field(&mut header.as_old_mut().linkname, target);
                (name, b"")
            }
            Device(name) => {
                header.set_entry_type(tar::EntryType::Char);
                header.set_mode(0o666);
                header.set_device_major(1).unwrap();
                header.set_device_minor(3).unwrap();
                (name, b"")
            }
        };
        raw_field(&mut header.as_old_mut().name, name);
        header.set_size(data.len() as u64);
        header.set_mtime(1_700_000_000);
        header.set_uid(0);
        header.set_gid(0);
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }
    builder.into_inner().unwrap()
}

fn raw_field(field: &mut [u8], value: &str) {
    assert!(
        value.len() < field.len(),
        "{value} too long for a test entry"
    );
    field.fill(0);
    field[..value.len()].copy_from_slice(value.as_bytes());
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

pub fn xz(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = liblzma::write::XzEncoder::new(Vec::new(), 1);
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

pub fn zstd(bytes: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(bytes, ruzstd::encoding::CompressionLevel::Fastest)
}

pub fn bzip2(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    cache();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Opens `bytes` written to a temp file (removed after).
pub fn open_bytes(bytes: &[u8]) -> Result<UserRootfs, isolators::Error> {
    let dir = tempfile::tempdir().unwrap();
    UserRootfs::open(&write(dir.path(), "archive", bytes))
}

/// Every path below `root`, relative, without following symlinks.
pub fn listing(root: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            found.insert(
                path.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            );
            if entry.file_type().unwrap().is_dir() {
                pending.push(path);
            }
        }
    }
    found
}

/// Names directly in `dir` (none when it does not exist).
pub fn entries_of(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

pub fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The cache holds nothing (no tree, no partial dir, no record) for an archive of `bytes`.
pub fn assert_nothing_cached(bytes: &[u8]) {
    let entry = cache().join("rootfs").join(sha256_hex(bytes));
    assert_eq!(
        entries_of(&entry),
        BTreeSet::new(),
        "left in {}",
        entry.display()
    );
}

/// A `docker save` archive: the layer files, a config, and manifest.json listing `images`
/// images (each with all the layers).
pub fn docker_archive(layers: &[(&str, Vec<u8>)], images: usize) -> Vec<u8> {
    let names: Vec<&str> = layers.iter().map(|(name, _)| *name).collect();
    let mut files: Vec<(String, Vec<u8>)> = layers
        .iter()
        .map(|(name, bytes)| (name.to_string(), bytes.clone()))
        .collect();
    files.push(("config.json".into(), b"{}".to_vec()));
    let manifest: Vec<serde_json::Value> = (0..images)
        .map(|i| serde_json::json!({"Config": "config.json", "RepoTags": [format!("t{i}:latest")], "Layers": names}))
        .collect();
    files.push((
        "manifest.json".into(),
        serde_json::to_vec(&manifest).unwrap(),
    ));
    files_tar(&files)
}

/// A `docker save` archive whose manifest names a layer it does not hold.
pub fn docker_archive_without_layer() -> Vec<u8> {
    let manifest =
        serde_json::json!([{"Config": "c.json", "RepoTags": [], "Layers": ["missing/layer.tar"]}]);
    files_tar(&[
        ("c.json".into(), b"{}".to_vec()),
        (
            "manifest.json".into(),
            serde_json::to_vec(&manifest).unwrap(),
        ),
    ])
}

fn files_tar(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let items: Vec<Item> = files
        .iter()
        .map(|(name, bytes)| File(name, bytes, 0o644))
        .collect();
    tar_of(&items)
}

/// Writes an OCI image layout of `layers` at `dir`; returns the layer blobs' paths and the
/// manifest's digest (hex).
pub fn oci_layout(dir: &Path, layers: &[Vec<u8>]) -> (Vec<PathBuf>, String) {
    cache();
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let store = |bytes: &[u8]| {
        let hex = sha256_hex(bytes);
        std::fs::write(blobs.join(&hex), bytes).unwrap();
        (
            serde_json::json!({"digest": format!("sha256:{hex}"), "size": bytes.len()}),
            blobs.join(hex),
        )
    };
    let (config, _) = store(br#"{"architecture":"amd64","os":"linux"}"#);
    let stored: Vec<_> = layers.iter().map(|layer| store(layer)).collect();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config,
        "layers": stored.iter().map(|(descriptor, _)| descriptor.clone()).collect::<Vec<_>>(),
    });
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    let (mut descriptor, _) = store(&manifest_bytes);
    descriptor["mediaType"] = "application/vnd.oci.image.manifest.v1+json".into();
    descriptor["platform"] = serde_json::json!({"os": "linux", "architecture": "amd64"});
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [descriptor]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let paths = stored.into_iter().map(|(_, path)| path).collect();
    (paths, sha256_hex(&manifest_bytes))
}

/// A tar of a directory's contents (names relative to it).
pub fn tar_of_dir(dir: &Path) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.append_dir_all(".", dir).unwrap();
    builder.into_inner().unwrap()
}

pub fn docker_running() -> Result<(), String> {
    test_gate::check_root()?;
    match Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
    {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!(
            "docker daemon not reachable ({}) — scripts/install-peers.sh --start-docker",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!("docker: {e}")),
    }
}

/// Removes the test's image when dropped.
struct ImageGuard(String);

impl Drop for ImageGuard {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rmi", "-f", &self.0]).output();
    }
}

/// `docker import` of a tiny tree (the host's static busybox, /etc/marker), then `docker save`
/// of that image into `dir`; the image is removed again. No registry involved.
pub fn docker_save_of_busybox_tree(dir: &Path) -> PathBuf {
    let busybox = std::fs::read("/bin/busybox").expect("/bin/busybox (Debian package busybox)");
    let rootfs = tar_of(&[
        Dir("bin", 0o755),
        File("bin/busybox", &busybox, 0o755),
        Symlink("bin/sh", "busybox"),
        File("etc/marker", b"isobench\n", 0o644),
    ]);
    let tarball = write(dir, "tree.tar", &rootfs);
    let tag = format!("isobench-rootfs-test-{}:latest", std::process::id());
    let run = |args: &[&str]| {
        let out = Command::new("docker").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["import", tarball.to_str().unwrap(), &tag]);
    let _image = ImageGuard(tag.clone());
    let saved = dir.join("saved.tar");
    run(&["save", "-o", saved.to_str().unwrap(), &tag]);
    saved
}
