//! The [`Isolator`] over an OCI runtime; runc, crun and runsc differ only in an [`OciProfile`].
use std::path::{Path, PathBuf};

use super::engine::Engine;
use super::oci::{Flavor, PreparedOci};
use crate::disk::DiskFootprint;
use crate::host::Host;
use crate::isolator::{Availability, Description, Instance, Isolator, KernelKind, Kind};
use crate::probe::Workload;
use crate::Error;

/// What distinguishes one OCI runtime adapter from another.
pub struct OciProfile {
    pub name: &'static str,
    pub kind: Kind,
    pub kernel: KernelKind,
    pub boundary: String,
    /// Runtime options and host workarounds, decided from the host.
    pub flavor: Flavor,
    /// Workarounds a reader must know, e.g. "cgroup2 mount hidden from crun (hybrid host)".
    pub notes: Vec<String>,
    /// Set when the host rules the runtime out whatever the binary (e.g. not root).
    pub host_problem: Option<String>,
}

pub struct OciIsolator {
    profile: OciProfile,
    engine: Engine,
    prepared: Option<PreparedOci>,
}

impl OciIsolator {
    pub fn new(profile: OciProfile, engine: Engine) -> OciIsolator {
        OciIsolator {
            profile,
            engine,
            prepared: None,
        }
    }

    /// The state directory (`--root`) of the prepared runtime.
    pub fn state_root(&self) -> Option<PathBuf> {
        self.prepared.as_ref().map(|p| p.runtime.state_root.clone())
    }

    /// Container ids still in the state directory (should be none between launches).
    pub fn leftover_containers(&self) -> Vec<String> {
        self.prepared
            .as_ref()
            .map_or(Vec::new(), |p| p.runtime.leftovers())
    }
}

impl Isolator for OciIsolator {
    fn name(&self) -> &str {
        self.profile.name
    }
    fn kind(&self) -> Kind {
        self.profile.kind
    }
    fn describe(&self) -> Description {
        Description {
            boundary: self.profile.boundary.clone(),
            kernel: self.profile.kernel,
            version: self.engine.version_text(),
            notes: self.profile.notes.clone(),
        }
    }
    fn availability(&self, host: &Host) -> Availability {
        if !host.is_root {
            return Availability::unavailable(format!(
                "{} needs root here (rootless mode is not set up by isobench) — run isobench as root",
                self.profile.name
            ));
        }
        if let Some(problem) = &self.profile.host_problem {
            return Availability::unavailable(problem.clone());
        }
        self.engine.availability()
    }
    fn prepare(&mut self, workload: &Workload, scratch: &Path) -> Result<DiskFootprint, Error> {
        let engine = self.engine.require()?;
        let (prepared, footprint) = PreparedOci::make(
            engine.clone(),
            self.profile.flavor.clone(),
            &[engine],
            workload,
            scratch,
        )?;
        self.prepared = Some(prepared);
        Ok(footprint)
    }
    fn launch(&mut self) -> Result<Box<dyn Instance>, Error> {
        let prepared = self.prepared.as_ref().ok_or_else(|| {
            Error::BadInput(format!("{}: launch before prepare", self.profile.name))
        })?;
        Ok(Box::new(prepared.launch()?))
    }
}

impl Drop for OciIsolator {
    fn drop(&mut self) {
        if self.prepared.is_some() {
            super::oci_bundle::remove_empty_cgroup_parents();
        }
    }
}
