//! Which `isobench-vmm` the microVM isolators run: `ISOBENCH_VMM` if set, else the static VMM
//! embedded in this build (isolators/build.rs), written once to a content-addressed file in
//! the cache (`~/.cache/isobench/bin/<hash>/isobench-vmm`: its process is still called
//! `isobench-vmm`).
//!
//! The VMM stays its own small process (its resident memory outside guest RAM is a headline
//! number); embedding it only means the first `cargo run -p isobench` has it, the same bytes
//! as the sources it was built from. The disk footprint counts the extracted file.
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::guest::cache_dir;
use crate::Error;

/// The static `isobench-vmm`, built by build.rs with a nested `cargo build --release`.
static VMM_BYTES: &[u8] = include_bytes!(env!("ISOBENCH_VMM_PATH"));
/// A hash of [`VMM_BYTES`] (FNV-1a, 64 bits, hex), computed by build.rs: the cache directory's
/// name.
const VMM_HASH: &str = env!("ISOBENCH_VMM_HASH");

/// The extracted copy this process has already checked, byte for byte.
static CHECKED: Mutex<Option<PathBuf>> = Mutex::new(None);

/// The `isobench-vmm` to run: `ISOBENCH_VMM` (which must name a file; empty counts as unset),
/// else the embedded one, extracted into the cache on first use.
pub fn find_vmm() -> Result<PathBuf, Error> {
    if let Some(path) = std::env::var_os("ISOBENCH_VMM").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(Error::BadInput(format!(
                "ISOBENCH_VMM={}: no such file",
                path.display()
            )))
        };
    }
    embedded_vmm(&cache_dir().join("bin"))
}

/// The embedded VMM as `dir/<hash>/isobench-vmm`: reused when it holds exactly these bytes,
/// else (re)written.
fn embedded_vmm(dir: &Path) -> Result<PathBuf, Error> {
    let path = dir.join(VMM_HASH).join("isobench-vmm");
    let mut checked = CHECKED.lock().unwrap_or_else(|e| e.into_inner());
    if checked.as_deref() == Some(path.as_path()) && path.is_file() {
        return Ok(path);
    }
    if !holds_the_embedded_vmm(&path) {
        write_atomically(&path).map_err(|e| {
            Error::Unavailable(format!(
                "cannot write isobench-vmm to {}: {e} — set ISOBENCH_CACHE to a writable directory, or ISOBENCH_VMM to an isobench-vmm binary",
                path.display()
            ))
        })?;
    }
    *checked = Some(path.clone());
    Ok(path)
}

/// Whether `path` is an executable file with the embedded bytes.
fn holds_the_embedded_vmm(path: &Path) -> bool {
    let executable = std::fs::metadata(path).is_ok_and(|m| {
        m.is_file() && m.len() == VMM_BYTES.len() as u64 && m.permissions().mode() & 0o111 != 0
    });
    executable && std::fs::read(path).is_ok_and(|bytes| bytes == VMM_BYTES)
}

/// Writes the VMM to a temporary file beside `path`, mode 0755, then renames it into place, so
/// no one ever runs a half-written VMM (another isobench may be extracting the same file).
fn write_atomically(path: &Path) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    // Owner-tagged (see crate::orphans), so a later isobench removes it if this one is killed.
    let temp = dir.join(format!(
        "{}{}-{name}",
        crate::orphans::PARTIAL_PREFIX,
        crate::orphans::Owner::current().tag()
    ));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o755)
            .open(&temp)?;
        file.write_all(VMM_BYTES)?;
        file.sync_all()?;
        // The umask may have taken bits off the mode given at creation.
        file.set_permissions(std::fs::Permissions::from_mode(0o755))
    })();
    let renamed = written.and_then(|()| std::fs::rename(&temp, path));
    if renamed.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    renamed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_vmm_is_a_static_executable() {
        // ELF, and no PT_INTERP (type 3) program header: no dynamic loader, no libraries, so
        // the file alone is its whole runtime disk footprint.
        assert_eq!(&VMM_BYTES[..4], b"\x7fELF");
        let headers = crate::microvm::elf::program_headers(VMM_BYTES).unwrap();
        assert!(headers.iter().all(|h| h.kind != 3), "PT_INTERP present");
        assert_eq!(VMM_HASH.len(), 16);
    }

    #[test]
    fn extracts_once_and_repairs_a_damaged_copy() {
        let dir = tempfile::tempdir().unwrap();
        let path = embedded_vmm(dir.path()).unwrap();
        assert!(holds_the_embedded_vmm(&path));
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o755
        );
        assert!(
            path.ends_with(format!("{VMM_HASH}/isobench-vmm")),
            "{path:?}"
        );
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left: {names:?}");

        *CHECKED.lock().unwrap() = None;
        std::fs::write(&path, b"not a VMM").unwrap();
        assert_eq!(embedded_vmm(dir.path()).unwrap(), path);
        assert!(holds_the_embedded_vmm(&path), "rewritten");
    }

    #[test]
    fn an_unwritable_cache_says_what_to_do() {
        let error = embedded_vmm(Path::new("/proc/isobench-no-such-dir"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("ISOBENCH_CACHE"), "{error}");
        assert!(error.contains("ISOBENCH_VMM"), "{error}");
    }
}
