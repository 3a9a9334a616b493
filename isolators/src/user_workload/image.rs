//! The layers of an image in the order they apply: from a `docker save` archive (manifest.json
//! naming layer tarballs) or an OCI image layout (oci-layout, index.json → manifest → layers by
//! digest under blobs/), with every OCI blob's sha256 checked against its digest.
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::layer::entry_path;
use super::UnpackError;

/// Which image format a directory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// `docker save`: manifest.json, one entry per image.
    DockerArchive,
    /// An OCI image layout (also what `docker save` writes since Docker 25, beside manifest.json).
    OciLayout,
}

/// One layer: its tarball (possibly compressed) and, for OCI, the digest it must have.
#[derive(Debug, Clone)]
pub struct LayerBlob {
    pub path: PathBuf,
    pub sha256_hex: Option<String>,
}

/// The image format of `dir`, if it holds one. OCI wins when both are present: its digests
/// can be checked.
pub fn format_of(dir: &Path) -> Option<ImageFormat> {
    if dir.join("oci-layout").is_file() && dir.join("index.json").is_file() {
        return Some(ImageFormat::OciLayout);
    }
    let manifest = std::fs::read(dir.join("manifest.json")).ok()?;
    let manifest: Value = serde_json::from_slice(&manifest).ok()?;
    let is_docker = manifest
        .as_array()
        .is_some_and(|images| images.iter().all(|image| image.get("Layers").is_some()));
    is_docker.then_some(ImageFormat::DockerArchive)
}

/// The layers of the one image in `dir`.
pub fn layers(dir: &Path, format: ImageFormat) -> Result<(Vec<LayerBlob>, String), UnpackError> {
    match format {
        ImageFormat::DockerArchive => docker_layers(dir),
        ImageFormat::OciLayout => oci_layers(dir),
    }
}

/// manifest.json: `[{"Config": …, "RepoTags": […], "Layers": ["<id>/layer.tar", …]}]`.
/// Returns the layers and the config file's name (what identifies the image).
fn docker_layers(dir: &Path) -> Result<(Vec<LayerBlob>, String), UnpackError> {
    let manifest = read_json(&dir.join("manifest.json"), "manifest.json")?;
    let images = manifest
        .as_array()
        .ok_or_else(|| UnpackError::Corrupt("manifest.json is not a list of images".into()))?;
    let image = match images.as_slice() {
        [image] => image,
        [] => return Err(UnpackError::Corrupt("manifest.json lists no image".into())),
        several => {
            let tags: Vec<String> = several
                .iter()
                .map(
                    |image| match image.get("RepoTags").and_then(Value::as_array) {
                        Some(tags) if !tags.is_empty() => tags
                            .iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(","),
                        _ => "(untagged)".into(),
                    },
                )
                .collect();
            return Err(UnpackError::Refused(format!(
                "the archive holds {} images ({}) — `docker save` one image per archive",
                several.len(),
                tags.join(" ")
            )));
        }
    };
    let names = image
        .get("Layers")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            UnpackError::Corrupt("manifest.json: the image has no Layers list".into())
        })?;
    let mut layers = Vec::new();
    for name in names {
        let name = name.as_str().ok_or_else(|| {
            UnpackError::Corrupt("manifest.json: a layer name is not a string".into())
        })?;
        let path = resolve_inside(dir, name, "manifest.json names layer")?;
        // Docker 25+ stores layers as blobs/sha256/<hex>: their names are checkable digests.
        let sha256_hex = name
            .strip_prefix("blobs/sha256/")
            .filter(|hex| is_sha256_hex(hex))
            .map(str::to_owned);
        layers.push(LayerBlob { path, sha256_hex });
    }
    let config = image.get("Config").and_then(Value::as_str).unwrap_or("");
    Ok((layers, config.to_owned()))
}

/// index.json → (nested index →) manifest → layers. Returns the layers and the manifest digest.
fn oci_layers(dir: &Path) -> Result<(Vec<LayerBlob>, String), UnpackError> {
    let mut index = read_json(&dir.join("index.json"), "index.json")?;
    let mut from = "index.json".to_owned();
    for _nesting in 0..4 {
        let descriptor = one_image(&index, &from)?;
        let digest = descriptor_digest(&descriptor, &from)?;
        let blob = read_blob(dir, &digest)?;
        let document: Value = serde_json::from_slice(&blob)
            .map_err(|e| UnpackError::Corrupt(format!("blob sha256:{digest} is not JSON: {e}")))?;
        if document.get("manifests").is_some() {
            (index, from) = (document, format!("index sha256:{digest}"));
            continue;
        }
        let layers = document
            .get("layers")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                UnpackError::Corrupt(format!("manifest sha256:{digest} has no layers list"))
            })?;
        if let Some(config) = document.get("config") {
            read_blob(dir, &descriptor_digest(config, "the manifest's config")?)?;
        }
        let blobs = layers
            .iter()
            .map(|layer| {
                let hex = descriptor_digest(layer, &format!("manifest sha256:{digest}"))?;
                Ok(LayerBlob {
                    path: blob_path(dir, &hex)?,
                    sha256_hex: Some(hex),
                })
            })
            .collect::<Result<Vec<_>, UnpackError>>()?;
        return Ok((blobs, digest));
    }
    Err(UnpackError::Corrupt(
        "image indexes nested more than 4 deep".into(),
    ))
}

/// The one image an index lists: entries for other platforms (and buildx attestations, whose
/// platform is unknown/unknown) are left out; several left is refused.
fn one_image(index: &Value, from: &str) -> Result<Value, UnpackError> {
    let manifests = index
        .get("manifests")
        .and_then(Value::as_array)
        .ok_or_else(|| UnpackError::Corrupt(format!("{from} has no manifests list")))?;
    let runs_here = |descriptor: &&Value| match descriptor.get("platform") {
        None => true,
        Some(platform) => {
            platform.get("os").and_then(Value::as_str) == Some("linux")
                && platform.get("architecture").and_then(Value::as_str) == Some("amd64")
        }
    };
    let candidates: Vec<&Value> = manifests.iter().filter(runs_here).collect();
    match candidates.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(UnpackError::Refused(format!(
            "{from} lists no image for linux/amd64 ({} entries for other platforms)",
            manifests.len()
        ))),
        several => Err(UnpackError::Refused(format!(
            "{from} lists {} images — give a layout with one image (e.g. `skopeo copy` one tag)",
            several.len()
        ))),
    }
}

/// `"digest": "sha256:<64 hex>"` of a descriptor; other algorithms are refused.
fn descriptor_digest(descriptor: &Value, from: &str) -> Result<String, UnpackError> {
    let digest = descriptor
        .get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| UnpackError::Corrupt(format!("{from}: a descriptor has no digest")))?;
    match digest.split_once(':') {
        Some(("sha256", hex)) if is_sha256_hex(hex) => Ok(hex.to_owned()),
        Some(("sha256", _)) => Err(UnpackError::Corrupt(format!("{from}: malformed digest {digest}"))),
        _ => Err(UnpackError::Refused(format!(
            "{from}: digest {digest} uses an algorithm other than sha256, which isobench does not check"
        ))),
    }
}

fn is_sha256_hex(hex: &str) -> bool {
    hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// blobs/sha256/<hex>, which must exist.
fn blob_path(dir: &Path, hex: &str) -> Result<PathBuf, UnpackError> {
    resolve_inside(dir, &format!("blobs/sha256/{hex}"), "a manifest names blob")
}

/// A small JSON blob, read whole and checked against its digest.
fn read_blob(dir: &Path, hex: &str) -> Result<Vec<u8>, UnpackError> {
    const MAX_DOCUMENT_BYTES: u64 = 16 << 20;
    let path = blob_path(dir, hex)?;
    let mut bytes = Vec::new();
    std::fs::File::open(&path)
        .and_then(|file| file.take(MAX_DOCUMENT_BYTES).read_to_end(&mut bytes))
        .map_err(|source| UnpackError::Io {
            what: path.display().to_string(),
            source,
        })?;
    check_sha256(&super::archive::hex(&Sha256::digest(&bytes)), hex)?;
    Ok(bytes)
}

/// Refuses a blob whose content does not have the digest it is stored under.
pub fn check_sha256(actual_hex: &str, expected_hex: &str) -> Result<(), UnpackError> {
    if actual_hex == expected_hex {
        return Ok(());
    }
    Err(UnpackError::Corrupt(format!(
        "blob sha256:{expected_hex} has content with digest sha256:{actual_hex}"
    )))
}

fn read_json(path: &Path, name: &str) -> Result<Value, UnpackError> {
    let bytes = std::fs::read(path)
        .map_err(|e| UnpackError::Corrupt(format!("cannot read {name}: {e}")))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| UnpackError::Corrupt(format!("{name} is not valid JSON: {e}")))
}

/// `name` (relative, as a manifest gives it) resolved inside `dir`, symlinks of the archive
/// followed but never out of `dir`; it must exist.
fn resolve_inside(dir: &Path, name: &str, what: &str) -> Result<PathBuf, UnpackError> {
    let relative = entry_path(Path::new(name))?
        .ok_or_else(|| UnpackError::Corrupt(format!("{what} `{name}`, which is not a file")))?;
    let missing =
        || UnpackError::Corrupt(format!("{what} `{name}`, which the image does not hold"));
    let root = dir.canonicalize().map_err(|_| missing())?;
    let path = root.join(relative).canonicalize().map_err(|_| missing())?;
    if !path.starts_with(&root) {
        return Err(UnpackError::escape(
            Path::new(name),
            "leads outside the image through a symlink",
        ));
    }
    if !path.is_file() {
        return Err(missing());
    }
    Ok(path)
}
