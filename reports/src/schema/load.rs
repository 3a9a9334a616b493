//! Reading a results file: only a regular file, at most [`MAX_RESULTS_BYTES`], then the schema
//! version, then the shape, with the path of the field at fault in the error's one line.
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::{RunRecord, SCHEMA_VERSION};

/// The largest results file read: 1 GiB. A 100,000-trial run.json is about 100 MB; anything
/// larger is not one of ours, and reading it whole would take that much memory.
pub const MAX_RESULTS_BYTES: u64 = 1 << 30;

/// Why a results file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Not JSON, or not shaped like a run record.
    #[error("{path}: not an isobench results file: {detail}")]
    Malformed { path: String, detail: String },
    /// Written by a different schema version.
    #[error("{path}: results schema version {found}, this isobench reads version {expected} — re-run, or use the isobench that wrote it")]
    WrongVersion {
        path: String,
        found: u64,
        expected: u32,
    },
    #[error(
        "{path}: {source} — pass a run.json, density.json or burst.json written by isobench, or its directory"
    )]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// A device, FIFO, socket …: reading it could block forever or never end.
    #[error("{path}: not a regular file ({kind}) — pass a run.json or density.json written by isobench, or its directory")]
    NotRegular { path: String, kind: &'static str },
    /// Beyond [`MAX_RESULTS_BYTES`].
    #[error("{path}: {bytes} bytes, larger than 1 GiB, the most isobench reads as a results file — pass a run.json or density.json written by isobench")]
    TooLarge { path: String, bytes: u64 },
    /// A directory holding neither results file.
    #[error("{path}: a directory that holds none of run.json, density.json and burst.json — pass the directory of a run (or a density or burst run), or the file itself")]
    NoResultsInDirectory { path: String },
}

impl RunRecord {
    /// Parses a results file, checking the schema version before the shape.
    pub fn from_json(path: &str, text: &str) -> Result<RunRecord, LoadError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| LoadError::Malformed {
                path: path.into(),
                detail: e.to_string(),
            })?;
        let malformed = |detail: String| LoadError::Malformed {
            path: path.into(),
            detail,
        };
        let found = match value.get("schema_version") {
            None => return Err(malformed("no schema_version field".into())),
            Some(version) => version.as_u64().ok_or_else(|| {
                malformed(format!(
                    "schema_version is {}, not a whole number (this isobench reads version {SCHEMA_VERSION})",
                    json_kind(version)
                ))
            })?,
        };
        if found != SCHEMA_VERSION as u64 {
            return Err(LoadError::WrongVersion {
                path: path.into(),
                found,
                expected: SCHEMA_VERSION,
            });
        }
        // The path names the field at fault: `isolators[0].kind: unknown variant `vm`, …`.
        serde_path_to_error::deserialize(value)
            .map_err(|e| malformed(format!("{}: {}", e.path(), e.inner())))
    }

    /// Loads a results file, or a results directory: its `run.json`, else its `density.json`,
    /// else its `burst.json`.
    pub fn load(path: &Path) -> Result<RunRecord, LoadError> {
        let path = results_file(path)?;
        let name = path.display().to_string();
        let text = read_capped(&path, &name)?;
        let mut record = Self::from_json(&name, &text)?;
        record.merge_samples_log(path.parent().unwrap_or(Path::new(".")))?;
        Ok(record)
    }
}

/// The file to read for `path`: itself, or in a directory its run.json, else its density.json,
/// else its burst.json.
pub fn results_file(path: &Path) -> Result<PathBuf, LoadError> {
    if !path.is_dir() {
        return Ok(path.to_path_buf());
    }
    ["run.json", "density.json", "burst.json"]
        .iter()
        .map(|name| path.join(name))
        .find(|file| file.symlink_metadata().is_ok())
        .ok_or_else(|| LoadError::NoResultsInDirectory {
            path: path.display().to_string(),
        })
}

/// Opens a regular file of at most [`MAX_RESULTS_BYTES`] for reading. Opened with O_NONBLOCK
/// so that a FIFO without a writer cannot hang the open; the type and size are checked on the
/// open file (fstat), so nothing can be swapped in between the check and the read.
pub(super) fn open_capped(path: &Path, name: &str) -> Result<std::fs::File, LoadError> {
    let io = |source: std::io::Error| LoadError::Io {
        path: name.into(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io)?;
    let metadata = file.metadata().map_err(io)?;
    if !metadata.is_file() {
        return Err(LoadError::NotRegular {
            path: name.into(),
            kind: file_kind(&metadata.file_type()),
        });
    }
    if metadata.len() > MAX_RESULTS_BYTES {
        return Err(LoadError::TooLarge {
            path: name.into(),
            bytes: metadata.len(),
        });
    }
    Ok(file)
}

/// Reads a regular file of at most [`MAX_RESULTS_BYTES`] as UTF-8 (see [`open_capped`]).
fn read_capped(path: &Path, name: &str) -> Result<String, LoadError> {
    let io = |source: std::io::Error| LoadError::Io {
        path: name.into(),
        source,
    };
    let mut file = open_capped(path, name)?;
    // The cap holds even if the file grows while it is read.
    let mut bytes = Vec::new();
    (&mut file)
        .take(MAX_RESULTS_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_RESULTS_BYTES {
        return Err(LoadError::TooLarge {
            path: name.into(),
            bytes: bytes.len() as u64,
        });
    }
    String::from_utf8(bytes).map_err(|e| LoadError::Malformed {
        path: name.into(),
        detail: format!("not UTF-8 text: {e}"),
    })
}

fn file_kind(kind: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else {
        "not a file"
    }
}

/// How a JSON value of the wrong type is named in an error: its type and (short) text.
fn json_kind(value: &serde_json::Value) -> String {
    let kind = match value {
        serde_json::Value::Null => return "null".into(),
        serde_json::Value::Array(_) => return "an array".into(),
        serde_json::Value::Object(_) => return "an object".into(),
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
    };
    let text: String = value.to_string().chars().take(40).collect();
    format!("{kind} ({text})")
}
