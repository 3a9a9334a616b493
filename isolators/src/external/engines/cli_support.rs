//! Helpers for docker-like clients: running a client command with a deadline, the probe
//! image's tag, leftover containers, and where the engine put a container's memory cgroup.
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::cgroup::CgroupLayout;
use crate::cgroup::CgroupMemorySource;
use crate::probe::PROBE_BYTES;

/// The image tag for this probe build: a content hash, so a new probe gets a new image.
pub fn image_tag() -> String {
    // FNV-1a: stable across Rust versions, unlike DefaultHasher.
    let hash = PROBE_BYTES.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("isobench-probe:{hash:016x}")
}

/// Runs a docker client command to completion within `timeout`; stdout on success.
pub fn cli(client: &Path, args: &[&str], timeout: Duration) -> Result<String, String> {
    let mut child = Command::new(client)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", client.display()))?;
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "`docker {}` did not answer within {:.0} s",
                    args.join(" "),
                    timeout.as_secs_f64()
                ));
            }
        }
    }
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    } else {
        Err(format!(
            "`docker {}`: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// The client and the helpers it runs through, those that exist here.
pub fn executables(client: PathBuf, helpers: &[&str]) -> Vec<PathBuf> {
    std::iter::once(client)
        .chain(helpers.iter().filter_map(|h| crate::host::which(h)))
        .collect()
}

/// Containers this harness process started that the engine still knows (should be none).
pub fn leftover_containers(client: &Path) -> Vec<String> {
    let filter = format!("name=isobench-{}-", crate::orphans::Owner::current().tag());
    cli(
        client,
        &["ps", "-a", "--format", "{{.Names}}", "--filter", &filter],
        Duration::from_secs(10),
    )
    .map(|names| names.lines().map(str::to_string).collect())
    .unwrap_or_default()
}

/// The first of `relative` (cgroup paths the engine may use) that exists as a memory cgroup.
pub fn find_cgroup(relative: &[String]) -> Option<CgroupMemorySource> {
    match CgroupLayout::detect() {
        CgroupLayout::Unified { root } => relative
            .iter()
            .map(|r| root.join(r))
            .find(|d| d.is_dir())
            .map(CgroupMemorySource::V2),
        CgroupLayout::Legacy { root } | CgroupLayout::Hybrid { root, .. } => relative
            .iter()
            .map(|r| root.join("memory").join(r))
            .find(|d| d.is_dir())
            .map(CgroupMemorySource::V1),
        CgroupLayout::Unsupported { .. } => None,
    }
}
