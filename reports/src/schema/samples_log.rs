//! The samples log, `samples.jsonl` beside `run.json`: each raw sample and failure as one JSON
//! line, appended as trials finish. While a run is in progress its `run.json` holds the summary
//! only and names this file (`samples_file`); loading such a run.json merges the log back in.
use std::io::BufRead;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Failure, LoadError, RunRecord, Sample};

/// One line of the log: an isolator's sample or failure.
#[derive(Debug, Serialize, Deserialize)]
pub struct LogLine<'a> {
    pub isolator: std::borrow::Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<std::borrow::Cow<'a, Sample>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<std::borrow::Cow<'a, Failure>>,
}

impl RunRecord {
    /// Appends the samples and failures of the log named by `samples_file` (relative to
    /// `dir`, the directory of the run.json) to their isolators, and clears `samples_file`.
    /// A last line cut short (the run was killed while writing it) is left out.
    pub fn merge_samples_log(&mut self, dir: &Path) -> Result<(), LoadError> {
        let Some(name) = self.samples_file.take() else {
            return Ok(());
        };
        // The name comes from the file being loaded: only a file beside it, never a path
        // that leads elsewhere (an absolute path, `..`, a device).
        let plain = std::path::Path::new(&name).file_name() == Some(std::ffi::OsStr::new(&name));
        if !plain || name == ".." {
            return Err(LoadError::Malformed {
                path: dir.join("run.json").display().to_string(),
                detail: format!("samples_file {name:?} is not a file name beside run.json"),
            });
        }
        let path = dir.join(&name);
        let shown = path.display().to_string();
        let io = |source| LoadError::Io {
            path: shown.clone(),
            source,
        };
        let file = super::load::open_capped(&path, &shown)?;
        let capped = std::io::Read::take(file, super::MAX_RESULTS_BYTES + 1);
        let reader = std::io::BufReader::new(capped);
        let mut lines = reader.split(b'\n').enumerate().peekable();
        while let Some((index, line)) = lines.next() {
            let line = line.map_err(io)?;
            let last = lines.peek().is_none();
            let parsed = match serde_json::from_slice::<LogLine>(&line) {
                Ok(parsed) => parsed,
                Err(_) if last => break,
                Err(e) => {
                    return Err(LoadError::Malformed {
                        path: shown,
                        detail: format!("line {}: {e}", index + 1),
                    })
                }
            };
            let Some(entry) = self
                .isolators
                .iter_mut()
                .find(|i| i.name == parsed.isolator)
            else {
                return Err(LoadError::Malformed {
                    path: shown,
                    detail: format!(
                        "line {}: isolator {:?} is not in the run",
                        index + 1,
                        parsed.isolator
                    ),
                });
            };
            entry.samples.extend(parsed.sample.map(|s| s.into_owned()));
            entry
                .failures
                .extend(parsed.failure.map(|f| f.into_owned()));
        }
        Ok(())
    }
}
