//! The embedded static probe and the minimal rootfs that holds it (its workload grammar is
//! [`isobench_protocol::Workload`]).
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::Error;

/// The static `isobench-probe` executable, built by build.rs; the same bytes everywhere.
pub static PROBE_BYTES: &[u8] = include_bytes!(env!("ISOBENCH_PROBE_PATH"));

/// The C library the embedded probe and VMM are statically linked with: "musl", or "glibc"
/// where the musl target was not installed when isobench was built (see isolators/build.rs).
pub const STATIC_LIBC: &str = env!("ISOBENCH_STATIC_LIBC");

/// A note for the baseline's row when the probe is built with glibc: every launch pays its
/// static start-up's CPU probing (about 60 CPUID instructions, each a VM exit on many VMs).
pub fn static_libc_note() -> Option<String> {
    (STATIC_LIBC != "musl").then(|| {
        "the probe is built with glibc (no musl target was installed when isobench was built): \
         every launch in every row includes glibc's start-up CPU probing, ~0.3 ms where CPUID \
         traps; `rustup target add x86_64-unknown-linux-musl` and rebuild"
            .to_string()
    })
}

/// The probe's file name inside every rootfs and initramfs.
pub const PROBE_NAME: &str = "isobench-probe";

/// The file in a scratch dir that the probes of the process and container isolators write their
/// stderr to (appended; [`crate::Prepared::probe_stderr`] reads and labels it), so that a
/// probe's message never reaches the terminal unlabelled, through the progress bar.
pub const PROBE_STDERR_LOG: &str = "probe-stderr.log";

/// Opens (creates) `dir/probe-stderr.log` for appending, close-on-exec: each launch hands the
/// probe a duplicate as its fd 2.
pub fn open_stderr_log(dir: &Path) -> Result<std::fs::File, Error> {
    let path = dir.join(PROBE_STDERR_LOG);
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| Error::io(format!("cannot create {}", path.display()), e))
}

/// Writes the probe executable to `dir/isobench-probe` (mode 0755) and returns its path.
pub fn write_probe(dir: &Path) -> Result<PathBuf, Error> {
    let path = dir.join(PROBE_NAME);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o755)
        .open(&path)
        .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))?;
    file.write_all(PROBE_BYTES)
        .map_err(|e| Error::io(path.display().to_string(), e))?;
    Ok(path)
}

/// Builds the rootfs every container-class isolator uses: the probe at `/isobench-probe` plus
/// empty `proc`, `dev` and `tmp` mount points. Nothing else: no shell, no libc.
pub fn write_rootfs(dir: &Path) -> Result<PathBuf, Error> {
    let rootfs = dir.join("rootfs");
    for sub in ["proc", "dev", "tmp", "sys"] {
        std::fs::create_dir_all(rootfs.join(sub))
            .map_err(|e| Error::io(format!("cannot create {}", rootfs.join(sub).display()), e))?;
    }
    std::fs::set_permissions(rootfs.join("tmp"), std::fs::Permissions::from_mode(0o1777))
        .map_err(|e| Error::io("chmod rootfs/tmp", e))?;
    write_probe(&rootfs)?;
    Ok(rootfs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_is_static() {
        // ELF, and no PT_INTERP (type 3) program header: no dynamic loader needed.
        assert_eq!(&PROBE_BYTES[..4], b"\x7fELF");
        let phoff = u64::from_le_bytes(PROBE_BYTES[0x20..0x28].try_into().unwrap()) as usize;
        let phentsize = u16::from_le_bytes(PROBE_BYTES[0x36..0x38].try_into().unwrap()) as usize;
        let phnum = u16::from_le_bytes(PROBE_BYTES[0x38..0x3a].try_into().unwrap()) as usize;
        for i in 0..phnum {
            let at = phoff + i * phentsize;
            let p_type = u32::from_le_bytes(PROBE_BYTES[at..at + 4].try_into().unwrap());
            assert_ne!(p_type, 3, "the probe has a PT_INTERP: it is not static");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = write_probe(dir.path()).unwrap();
        let ldd = std::process::Command::new("ldd")
            .arg(&path)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&ldd.stdout).to_string()
            + &String::from_utf8_lossy(&ldd.stderr);
        assert!(
            !text.contains("=>"),
            "the probe needs shared libraries: {text}"
        );
    }
}
