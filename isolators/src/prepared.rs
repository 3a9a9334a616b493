//! An isolator prepared for one workload, with the scratch dir it was prepared in: the one
//! thing `isobench run`, `isobench density` and `cargo bench` launch from.
use std::io::{Read, Seek, SeekFrom};

use crate::isolator::{DiskFootprint, Instance, Isolator, Launcher, Workload};
use crate::probe::PROBE_STDERR_LOG;
use crate::Error;

/// At most this many lines of probe stderr per [`Prepared::probe_stderr`] call.
pub const MAX_STDERR_LINES: usize = 20;
/// At most this much probe stderr is read per call.
const MAX_STDERR_BYTES: u64 = 64 * 1024;

/// A prepared isolator. Field order matters: the launcher (and whatever it set up) is dropped
/// before its scratch dir is removed.
pub struct Prepared {
    name: String,
    /// How much of the scratch dir's probe-stderr.log [`Prepared::probe_stderr`] has read.
    stderr_read_bytes: u64,
    launcher: Box<dyn Launcher>,
    /// Removed on drop; holds the probe's stderr log.
    scratch: tempfile::TempDir,
}

impl Prepared {
    /// Makes a scratch dir `isobench-<owner tag>-<name>-*` in TMPDIR and prepares `isolator`
    /// in it (the tag lets a later isobench remove it if we die, see [`crate::orphans`]).
    pub fn new(isolator: &dyn Isolator, workload: &Workload) -> Result<Prepared, Error> {
        let scratch = tempfile::Builder::new()
            .prefix(&format!(
                "isobench-{}-{}-",
                crate::orphans::Owner::current().tag(),
                isolator.name()
            ))
            .tempdir()
            .map_err(|e| Error::io("cannot create a scratch dir in TMPDIR", e))?;
        let launcher = isolator.prepare(workload, scratch.path())?;
        Ok(Prepared {
            name: isolator.name().to_string(),
            stderr_read_bytes: 0,
            launcher,
            scratch,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runtime + image bytes, measured while preparing.
    pub fn disk(&self) -> &DiskFootprint {
        self.launcher.disk()
    }

    /// What the probes wrote on stderr since the last call (isolators whose probe inherits no
    /// terminal write it to the scratch dir's [`PROBE_STDERR_LOG`]), as lines, at most
    /// [`MAX_STDERR_LINES`] (then a line saying how many more); read outside any timing.
    pub fn probe_stderr(&mut self) -> Vec<String> {
        let path = self.scratch.path().join(PROBE_STDERR_LOG);
        let Ok(file) = std::fs::File::open(&path) else {
            return Vec::new();
        };
        let mut text = Vec::new();
        let read = (&file)
            .seek(SeekFrom::Start(self.stderr_read_bytes))
            .and_then(|_| (&file).take(MAX_STDERR_BYTES).read_to_end(&mut text));
        if read.is_err() {
            return Vec::new();
        }
        // Skip whatever did not fit, so that the next call starts at new output.
        let end = file.metadata().map_or(0, |m| m.len());
        self.stderr_read_bytes = end.max(self.stderr_read_bytes + text.len() as u64);
        let text = String::from_utf8_lossy(&text);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let mut out: Vec<String> = lines
            .iter()
            .take(MAX_STDERR_LINES)
            .map(|l| l.to_string())
            .collect();
        if lines.len() > MAX_STDERR_LINES {
            out.push(format!("… {} more lines", lines.len() - MAX_STDERR_LINES));
        }
        out
    }

    /// Starts one instance (see [`Launcher::launch`]).
    pub fn launch(&mut self) -> Result<Box<dyn Instance>, Error> {
        self.launcher.launch()
    }
}
