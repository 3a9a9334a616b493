//! Reading a results file: the schema version first, then the shape, with the path of the
//! field at fault in the error's one line.
use super::{RunRecord, SCHEMA_VERSION};

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
}

impl RunRecord {
    /// Parses a results file, checking the schema version before the shape.
    pub fn from_json(path: &str, text: &str) -> Result<RunRecord, LoadError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| LoadError::Malformed {
                path: path.into(),
                detail: e.to_string(),
            })?;
        let found = value
            .get("schema_version")
            .and_then(|v| v.as_u64())
            .ok_or_else(|| LoadError::Malformed {
                path: path.into(),
                detail: "no schema_version field".into(),
            })?;
        if found != SCHEMA_VERSION as u64 {
            return Err(LoadError::WrongVersion {
                path: path.into(),
                found,
                expected: SCHEMA_VERSION,
            });
        }
        // The path names the field at fault: `isolators[0].kind: unknown variant `vm`, …`.
        serde_path_to_error::deserialize(value).map_err(|e| LoadError::Malformed {
            path: path.into(),
            detail: format!("{}: {}", e.path(), e.inner()),
        })
    }

    /// Loads a results file, or a results directory: its `run.json`, else its `density.json`,
    /// else its `burst.json`.
    pub fn load(path: &std::path::Path) -> Result<RunRecord, LoadError> {
        let path = if path.is_dir() {
            let names = ["run.json", "density.json", "burst.json"];
            let found = names.iter().map(|n| path.join(n)).find(|p| p.exists());
            found.unwrap_or_else(|| path.join("run.json"))
        } else {
            path.to_path_buf()
        };
        let name = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|e| LoadError::Io {
            path: name.clone(),
            source: e,
        })?;
        Self::from_json(&name, &text)
    }
}
