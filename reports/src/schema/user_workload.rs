//! The user's workload in a run's config (`isobench run --rootfs … --cmd … --ready …`): what
//! ran, so a report says which command its figures time. Absent from runs of the probe alone.
use serde::{Deserialize, Serialize};

/// The rootfs, the command and its readiness check, as the run used them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserWorkloadRecord {
    /// `--rootfs` as given.
    pub rootfs: String,
    /// What it was: `directory`, `host` (the host's own root), or the archive's format
    /// (`tarball`, `docker-archive`, `oci-layout`).
    pub rootfs_kind: String,
    /// For an archive: `sha256:<hex>` of what was unpacked (the archive, or the OCI manifest
    /// digest), the key of its unpacked tree in the cache. None for a directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree_digest: Option<String>,
    /// The command and its arguments.
    pub argv: Vec<String>,
    /// The names of the variables set with `--env` (not their values, which may be secrets).
    #[serde(default)]
    pub env_keys: Vec<String>,
    pub workdir: String,
    /// `tcp:PORT`, `file:PATH`, `log:REGEX` or `exit:CODE`.
    pub ready: String,
    pub ready_timeout_ms: u64,
    pub stop_grace_ms: u64,
}

impl UserWorkloadRecord {
    /// One line for headers: `python3 -m http.server 8080 in ./debian (directory), ready tcp:8080`.
    pub fn summary(&self) -> String {
        format!(
            "{} in {} ({}), ready {}",
            self.argv.join(" "),
            self.rootfs,
            self.rootfs_kind,
            self.ready
        )
    }
}
