//! The [`Isolator`] over an OCI runtime; runc, crun and runsc differ only in an [`OciProfile`].
use std::path::Path;
use std::sync::Arc;

use super::runtime::{Flavor, PreparedOci};
use crate::external::engine::{require_root, Engine, EngineSpec};
use crate::host::Host;
use crate::isolator::{Availability, Description, Isolator, KernelKind, Kind, Launcher, Workload};
use crate::options::IsolatorOptions;
use crate::user_workload::UserWorkload;
use crate::Error;

/// What distinguishes one OCI runtime adapter from another.
pub struct OciProfile {
    /// The runtime's name, executable and how to get it.
    pub engine: EngineSpec,
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
    /// The user's workload (`--rootfs`): its tree is the bundle's rootfs.
    user: Option<Arc<UserWorkload>>,
}

impl OciIsolator {
    pub fn new(profile: OciProfile, options: &IsolatorOptions) -> OciIsolator {
        OciIsolator {
            engine: Engine::new(profile.engine, options),
            profile,
            user: options.user.clone(),
        }
    }

    /// Prepares the runtime with its own state directory; [`Isolator::prepare`] boxes this.
    pub fn prepare_oci(&self, workload: &Workload, scratch: &Path) -> Result<PreparedOci, Error> {
        let engine = self.engine.require()?;
        PreparedOci::make(
            engine.clone(),
            self.profile.flavor.clone(),
            &[engine],
            workload,
            scratch,
            self.user.as_deref(),
        )
    }
}

impl Isolator for OciIsolator {
    fn name(&self) -> &str {
        self.profile.engine.name
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
        if let Some(refusal) = crate::instance_rootfs::host_root_refusal(self.user.as_deref()) {
            return refusal;
        }
        if let Some(unavailable) = require_root(host, self.profile.engine.name) {
            return unavailable;
        }
        if let Some(problem) = &self.profile.host_problem {
            return Availability::unavailable(problem.clone());
        }
        self.engine.availability()
    }
    fn prepare(&self, workload: &Workload, scratch: &Path) -> Result<Box<dyn Launcher>, Error> {
        Ok(Box::new(self.prepare_oci(workload, scratch)?))
    }
}
