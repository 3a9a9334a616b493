//! Archives given as `--rootfs`: a tarball (plain, gzip, zstd, xz or bzip2, told apart by magic
//! bytes), a `docker save` archive or an OCI layout (tarball or directory), unpacked once into
//! the cache at `<cache>/rootfs/<sha256>/tree` and reused.
//!
//! The key is the sha256 of the archive's bytes (for an OCI layout directory: its manifest's
//! digest). A tree is unpacked into `<sha256>/.partial-<owner tag>-unpack/` and renamed into
//! place only when complete, so an interrupted unpack never leaves a tree that is later used;
//! such a leftover, once its owner process is gone, is removed by the next open of any archive
//! with that key. On error the partial dir is removed at once.
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::image::{self, ImageFormat};
use super::layer::{self, LayerCounts};
use super::{RootfsSource, UnpackError};
use crate::orphans::{Claim, Liveness, Owner, PARTIAL_PREFIX};

/// What an unpacked tree came from, kept beside it as `<sha256>/unpacked.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unpacked {
    /// `tarball`, `docker-archive` or `oci-layout`.
    pub format: String,
    pub layers: u32,
    /// Device nodes and FIFOs left out (isolators mount their own /dev).
    pub special_files_skipped: u64,
    /// The cache key: sha256 of the archive (or the OCI manifest digest).
    pub sha256_hex: String,
}

impl Unpacked {
    pub fn source(&self) -> RootfsSource {
        match self.format.as_str() {
            "docker-archive" => RootfsSource::DockerArchive,
            "oci-layout" => RootfsSource::OciLayout,
            _ => RootfsSource::Tarball,
        }
    }
}

/// The directory holding every unpacked rootfs.
pub fn cache_root() -> PathBuf {
    crate::microvm::guest::cache_dir().join("rootfs")
}

/// Unpacks the archive file `given` (or finds it unpacked). Returns the tree and what it was.
pub fn open_file(given: &Path) -> Result<(PathBuf, Unpacked), UnpackError> {
    let key = sha256_of_file(given)?;
    cached_or_unpack(&key, |tree, counts| {
        let input = File::open(given).map_err(|source| UnpackError::Io {
            what: given.display().to_string(),
            source,
        })?;
        let stream = tar_stream(BufReader::new(input))?;
        let mut rest = layer::apply(stream, tree, counts)?;
        // Read to the end: a gzip stream's checksum is checked there.
        std::io::copy(&mut rest, &mut std::io::sink())
            .map_err(|e| UnpackError::Corrupt(format!("after the tar's end: {e}")))?;
        let Some(format) = image::format_of(tree) else {
            return Ok(("tarball", 1));
        };
        // The archive held an image: what was unpacked is its blobs; the rootfs is their layers.
        let blobs = tree.with_file_name("image");
        std::fs::rename(tree, &blobs).map_err(io(tree))?;
        std::fs::create_dir(tree).map_err(io(tree))?;
        *counts = LayerCounts::default();
        let (layers, _) = image::layers(&blobs, format)?;
        apply_layers(&layers, tree, counts)?;
        std::fs::remove_dir_all(&blobs).map_err(io(&blobs))?;
        Ok((format_name(format), layers.len() as u32))
    })
}

/// Unpacks an OCI image layout directory (or finds it unpacked).
pub fn open_oci_dir(dir: &Path) -> Result<(PathBuf, Unpacked), UnpackError> {
    let (layers, manifest_hex) = image::layers(dir, ImageFormat::OciLayout)?;
    cached_or_unpack(&manifest_hex, |tree, counts| {
        apply_layers(&layers, tree, counts)?;
        Ok(("oci-layout", layers.len() as u32))
    })
}

fn format_name(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::DockerArchive => "docker-archive",
        ImageFormat::OciLayout => "oci-layout",
    }
}

/// `<cache>/rootfs/<key>/tree` when present; otherwise `unpack(tree, counts)` into a partial
/// dir, renamed into place when it succeeds, removed when it fails.
fn cached_or_unpack(
    key: &str,
    unpack: impl FnOnce(&Path, &mut LayerCounts) -> Result<(&'static str, u32), UnpackError>,
) -> Result<(PathBuf, Unpacked), UnpackError> {
    let entry = cache_root().join(key);
    let (tree, record) = (entry.join("tree"), entry.join("unpacked.json"));
    if let Some(found) = read_record(&tree, &record) {
        return Ok((tree, found));
    }
    std::fs::create_dir_all(&entry).map_err(io(&entry))?;
    remove_abandoned_partials(&entry);
    let partial = PartialDir::create(&entry)?;
    let partial_tree = partial.path.join("tree");
    std::fs::create_dir(&partial_tree).map_err(io(&partial_tree))?;
    let mut counts = LayerCounts::default();
    let (format, layers) = unpack(&partial_tree, &mut counts)?;
    let unpacked = Unpacked {
        format: format.into(),
        layers,
        special_files_skipped: counts.special_files_skipped,
        sha256_hex: key.into(),
    };
    let text = serde_json::to_vec_pretty(&unpacked).expect("a plain struct serializes");
    let record_tmp = partial.path.join("unpacked.json");
    std::fs::write(&record_tmp, text).map_err(io(&record_tmp))?;
    std::fs::rename(&record_tmp, &record).map_err(io(&record))?;
    match std::fs::rename(&partial_tree, &tree) {
        Ok(()) => Ok((tree, unpacked)),
        // Another isobench finished the same archive first: use its tree.
        Err(_) if tree.is_dir() => Ok((tree, unpacked)),
        Err(source) => Err(UnpackError::Io {
            what: format!("cannot move the unpacked tree to {}", tree.display()),
            source,
        }),
    }
}

fn read_record(tree: &Path, record: &Path) -> Option<Unpacked> {
    if !tree.is_dir() {
        return None;
    }
    serde_json::from_slice(&std::fs::read(record).ok()?).ok()
}

/// A `.partial-<owner tag>-unpack` dir, removed (with whatever it holds) when dropped.
struct PartialDir {
    path: PathBuf,
}

impl PartialDir {
    fn create(entry: &Path) -> Result<PartialDir, UnpackError> {
        let name = format!("{PARTIAL_PREFIX}{}-unpack", Owner::current().tag());
        let path = entry.join(name);
        if path.exists() {
            // This process's own leftover of an earlier failed attempt.
            std::fs::remove_dir_all(&path).map_err(io(&path))?;
        }
        std::fs::create_dir(&path).map_err(io(&path))?;
        Ok(PartialDir { path })
    }
}

impl Drop for PartialDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Removes `.partial-<tag>-*` dirs in `entry` whose owner process is gone (killed mid-unpack).
fn remove_abandoned_partials(entry: &Path) {
    for found in std::fs::read_dir(entry).into_iter().flatten().flatten() {
        let name = found.file_name().to_string_lossy().into_owned();
        let Some(claim) = name
            .strip_prefix(PARTIAL_PREFIX)
            .and_then(|t| Claim::parse(t, false))
        else {
            continue;
        };
        if claim.liveness() == Liveness::Gone {
            let _ = std::fs::remove_dir_all(found.path());
        }
    }
}

/// Applies image layers in order, checking each OCI blob's digest over its stored bytes.
fn apply_layers(
    layers: &[image::LayerBlob],
    tree: &Path,
    counts: &mut LayerCounts,
) -> Result<(), UnpackError> {
    for blob in layers {
        let file = File::open(&blob.path).map_err(io(&blob.path))?;
        let mut input = BufReader::new(HashingReader {
            inner: file,
            hasher: Sha256::new(),
        });
        let stream = decompressed(&mut input)?;
        let mut rest = layer::apply(stream, tree, counts)?;
        let corrupt =
            |e: std::io::Error| UnpackError::Corrupt(format!("layer {}: {e}", blob.path.display()));
        std::io::copy(&mut rest, &mut std::io::sink()).map_err(corrupt)?;
        drop(rest);
        std::io::copy(&mut input, &mut std::io::sink()).map_err(corrupt)?;
        let actual = hex(&input.into_inner().hasher.finalize());
        if let Some(expected) = &blob.sha256_hex {
            image::check_sha256(&actual, expected)?;
        }
    }
    Ok(())
}

/// The xz decoder's memory limit (as for kernel images): xz -9 needs 65 MiB.
const XZ_MEMORY_LIMIT_BYTES: u64 = 256 << 20;

/// Compression told by its magic bytes.
fn decompressed<'a, R: BufRead + 'a>(mut input: R) -> Result<Box<dyn Read + 'a>, UnpackError> {
    let head = input
        .fill_buf()
        .map_err(|e| UnpackError::Corrupt(format!("unreadable: {e}")))?;
    let corrupt =
        |what: &str, e: &dyn std::fmt::Display| UnpackError::Corrupt(format!("{what}: {e}"));
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::bufread::MultiGzDecoder::new(input))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(
            ruzstd::decoding::StreamingDecoder::new(input).map_err(|e| corrupt("bad zstd", &e))?,
        )
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        // A bounded dictionary: a hostile header cannot make liblzma allocate gigabytes.
        let stream = liblzma::stream::Stream::new_stream_decoder(XZ_MEMORY_LIMIT_BYTES, 0)
            .map_err(|e| corrupt("bad xz", &e))?;
        Box::new(liblzma::bufread::XzDecoder::new_stream(input, stream))
    } else if head.starts_with(b"BZh") {
        Box::new(bzip2::bufread::MultiBzDecoder::new(input))
    } else {
        Box::new(input)
    })
}

/// The decompressed stream of `input`, refused unless it starts like a tar archive.
fn tar_stream<'a, R: BufRead + 'a>(input: R) -> Result<Box<dyn Read + 'a>, UnpackError> {
    let mut stream = decompressed(input)?;
    let mut head = Vec::with_capacity(512);
    (&mut stream)
        .take(512)
        .read_to_end(&mut head)
        .map_err(|e| UnpackError::Corrupt(format!("undecodable: {e}")))?;
    // ustar magic at offset 257: "ustar\0" (POSIX) or "ustar " (GNU).
    if head.len() < 512 || &head[257..262] != b"ustar" {
        return Err(UnpackError::NotAnArchive);
    }
    Ok(Box::new(std::io::Cursor::new(head).chain(stream)))
}

/// Passes bytes through, hashing them.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

fn sha256_of_file(path: &Path) -> Result<String, UnpackError> {
    let file = File::open(path).map_err(io(path))?;
    let mut reader = HashingReader {
        inner: file,
        hasher: Sha256::new(),
    };
    std::io::copy(&mut reader, &mut std::io::sink()).map_err(io(path))?;
    Ok(hex(&reader.hasher.finalize()))
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> UnpackError + '_ {
    move |source| UnpackError::Io {
        what: path.display().to_string(),
        source,
    }
}
