//! The embedded static probe, the workload it runs, and the minimal rootfs that holds it.
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Error;

/// The static `isobench-probe` executable, built by build.rs; the same bytes everywhere.
pub const PROBE_BYTES: &[u8] = include_bytes!(env!("ISOBENCH_PROBE_PATH"));

/// The probe's file name inside every rootfs and initramfs.
pub const PROBE_NAME: &str = "isobench-probe";

/// The probe's workload: `noop`, `touch:<MiB>`, `cpu:<M>`, `syscall:<N>`, `mem:<MiB>`, `io:<KiB>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workload {
    pub mode: String,
}

impl Workload {
    pub fn parse(text: &str) -> Result<Workload, Error> {
        let mode = match text.split_once(",delay_us=") {
            Some((mode, us)) => {
                us.parse::<u64>().map_err(|_| {
                    Error::BadInput(format!(
                        "workload {text:?}: delay_us={us:?} is not a whole number"
                    ))
                })?;
                mode
            }
            None => text,
        };
        let (name, value) = mode
            .split_once(':')
            .map_or((mode, None), |(n, v)| (n, Some(v)));
        let known = ["noop", "touch", "cpu", "syscall", "mem", "io"];
        if !known.contains(&name) || (name == "noop" && value.is_some()) {
            return Err(Error::BadInput(format!(
                "unknown workload {mode:?}: use noop, touch:<MiB>, cpu:<M iterations>, syscall:<N>, mem:<MiB> or io:<KiB>"
            )));
        }
        if let Some(value) = value {
            value.parse::<u64>().map_err(|_| {
                Error::BadInput(format!(
                    "workload {mode:?}: {value:?} is not a whole number"
                ))
            })?;
        }
        Ok(Workload {
            mode: text.to_string(),
        })
    }

    /// The same workload with a deliberate delay before ready (`,delay_us=N`): test-only, for
    /// proving that `isobench compare` catches a slowdown.
    pub fn with_startup_delay_us(&self, delay_us: u64) -> Workload {
        if delay_us == 0 {
            return self.clone();
        }
        Workload {
            mode: format!("{},delay_us={delay_us}", self.mode),
        }
    }

    pub fn noop() -> Workload {
        Workload {
            mode: "noop".into(),
        }
    }

    /// The workload's name: `noop`, `touch`, `cpu`, `syscall`, `mem` or `io`.
    pub fn name(&self) -> &str {
        self.mode.split([':', ',']).next().unwrap_or_default()
    }

    /// Whether the probe writes files (`io:<KiB>`), so the instance needs a writable directory
    /// (see [`crate::io_dir`]).
    pub fn writes_files(&self) -> bool {
        self.name() == "io"
    }

    /// Memory the workload itself holds (touch:N), so it is not mistaken for overhead.
    pub fn held_bytes(&self) -> u64 {
        match self.mode.split_once(':') {
            Some(("touch", mib)) => mib.parse::<u64>().unwrap_or(0) << 20,
            _ => 0,
        }
    }
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

    #[test]
    fn validates_workloads() {
        assert!(Workload::parse("touch:16").is_ok());
        assert_eq!(Workload::parse("touch:16").unwrap().held_bytes(), 16 << 20);
        assert!(Workload::parse("touch:lots").is_err());
        assert!(Workload::parse("sleep").is_err());
        assert_eq!(
            Workload::noop().with_startup_delay_us(50).mode,
            "noop,delay_us=50"
        );
        assert!(Workload::parse("noop,delay_us=50").is_ok());
        assert!(Workload::parse("noop,delay_us=soon").is_err());
        assert!(Workload::parse("io:64").unwrap().writes_files());
        assert!(Workload::parse("io,delay_us=5").unwrap().writes_files());
        assert!(!Workload::parse("touch:1").unwrap().writes_files());
    }
}
