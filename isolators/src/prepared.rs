//! An isolator prepared for one workload, with the scratch dir it was prepared in: the one
//! thing `isobench run`, `isobench density` and `cargo bench` launch from.
use crate::isolator::{DiskFootprint, Instance, Isolator, Launcher, Workload};
use crate::Error;

/// A prepared isolator. Field order matters: the launcher (and whatever it set up) is dropped
/// before its scratch dir is removed.
pub struct Prepared {
    name: String,
    launcher: Box<dyn Launcher>,
    /// Held only to be removed on drop.
    _scratch: tempfile::TempDir,
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
            launcher,
            _scratch: scratch,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runtime + image bytes, measured while preparing.
    pub fn disk(&self) -> &DiskFootprint {
        self.launcher.disk()
    }

    /// Starts one instance (see [`Launcher::launch`]).
    pub fn launch(&mut self) -> Result<Box<dyn Instance>, Error> {
        self.launcher.launch()
    }
}
