//! Debian's kernel into the cache, without installing it on the host: what
//! scripts/fetch-guest-kernel.sh does for the kernel itself (`apt-cache depends` on the
//! metapackage, `apt-get download` of the versioned image package into a temporary
//! directory, `dpkg -x`, `/boot/vmlinuz-<version>` copied to `<cache>/kernel/vmlinuz`, then
//! `version` written last). The KVM modules the nested test needs stay the script's job.
use std::path::{Path, PathBuf};
use std::process::Command;

use super::write_atomically;
use crate::Error;

/// The metapackage fetched unless `ISOBENCH_KERNEL_PACKAGE` names another.
pub const DEFAULT_PACKAGE: &str = "linux-image-cloud-amd64";

/// Fetches the kernel of `$ISOBENCH_KERNEL_PACKAGE` (default [`DEFAULT_PACKAGE`]) into
/// `<cache_dir>/kernel/vmlinuz` and returns that path; does nothing more when the cache
/// already holds that version. `progress` gets a line per step and, last, one saying what was
/// fetched. Without apt-get or dpkg, or when apt fails, the error says how to give a kernel.
pub fn fetch_debian_kernel(cache_dir: &Path, progress: &dyn Fn(&str)) -> Result<PathBuf, Error> {
    let package =
        std::env::var("ISOBENCH_KERNEL_PACKAGE").unwrap_or_else(|_| DEFAULT_PACKAGE.to_string());
    let dir = cache_dir.join("kernel");
    let (kernel, version_file) = (dir.join("vmlinuz"), dir.join("version"));

    progress(&format!("looking up {package} with apt-cache"));
    let image = match image_package(&package)? {
        Some(image) => image,
        None if nix::unistd::geteuid().is_root() => {
            progress("apt-cache does not know it: running apt-get update");
            run(
                Command::new("apt-get").args(["update", "-q"]),
                "apt-get update",
            )?;
            image_package(&package)?.ok_or_else(|| {
                cannot(format!(
                    "apt knows no {package}, or no linux-image-<version> package it depends on"
                ))
            })?
        }
        None => {
            return Err(cannot(format!(
            "apt knows no {package} (run apt-get update as root, or set ISOBENCH_KERNEL_PACKAGE)"
        )))
        }
    };
    let version = image.trim_start_matches("linux-image-").to_string();
    let cached = std::fs::read_to_string(&version_file).unwrap_or_default();
    if cached.trim() == version && kernel.is_file() {
        progress(&format!(
            "guest kernel {version} already in {}",
            dir.display()
        ));
        return Ok(kernel);
    }

    // Owner-tagged, so a later isobench removes it if this one is killed mid-download.
    let work = tempfile::Builder::new()
        .prefix(&format!(
            "isobench-{}-kernel-fetch-",
            crate::orphans::Owner::current().tag()
        ))
        .tempdir()
        .map_err(|e| Error::io("create a temporary directory", e))?;
    progress(&format!("downloading {image} with apt-get"));
    let mut download = Command::new("apt-get");
    download.current_dir(work.path()).args(["download", "-q"]);
    if nix::unistd::geteuid().is_root() {
        // As root, apt downloads as user _apt, which cannot write into a private temp dir.
        download.args(["-o", "APT::Sandbox::User=root"]);
    }
    run(download.arg(&image), &format!("apt-get download {image}"))?;
    let deb = std::fs::read_dir(work.path())
        .map_err(|e| Error::io("list the downloaded package", e))?
        .flatten()
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|ext| ext == "deb"))
        .ok_or_else(|| cannot(format!("apt-get download {image} left no .deb")))?;
    progress(&format!("unpacking {} with dpkg -x", file_name(&deb)));
    let root = work.path().join("root");
    run(
        Command::new("dpkg").arg("-x").arg(&deb).arg(&root),
        "dpkg -x",
    )?;
    let unpacked = root.join(format!("boot/vmlinuz-{version}"));
    let bytes = std::fs::read(&unpacked)
        .map_err(|_| cannot(format!("{image} holds no /boot/vmlinuz-{version}")))?;

    // `version` goes first and comes back last, so a run cut short is redone next time; the
    // modules of another version, if the script left some, no longer match the kernel.
    remove_if_present(&version_file)?;
    if cached.trim() != version {
        let modules = dir.join("modules");
        if modules.is_dir() {
            std::fs::remove_dir_all(&modules)
                .map_err(|e| Error::io(format!("remove {}", modules.display()), e))?;
        }
    }
    write_atomically(&kernel, &bytes)?;
    write_atomically(&version_file, format!("{version}\n").as_bytes())?;
    progress(&format!(
        "fetched {image} ({:.1} MiB, from {package}) into {}; nothing was installed on this host",
        bytes.len() as f64 / (1 << 20) as f64,
        kernel.display()
    ));
    Ok(kernel)
}

/// The versioned image package `package` depends on (`linux-image-<digit>…`), if apt knows it.
fn image_package(package: &str) -> Result<Option<String>, Error> {
    let output = output(
        Command::new("apt-cache").args(["depends", package]),
        "apt-cache",
    )?;
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(text
        .lines()
        .filter_map(|line| line.trim().strip_prefix("Depends:"))
        .map(str::trim)
        .find(|name| {
            name.strip_prefix("linux-image-")
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        })
        .map(str::to_string))
}

/// Runs `command`, which must succeed.
fn run(command: &mut Command, what: &str) -> Result<(), Error> {
    let output = output(command, what)?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    Err(cannot(format!(
        "{what} failed ({}): {}",
        output.status,
        last.trim()
    )))
}

fn output(command: &mut Command, what: &str) -> Result<std::process::Output, Error> {
    let program = command.get_program().to_string_lossy().into_owned();
    command
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => cannot(format!(
                "{program} is not installed (fetching needs Debian's or Ubuntu's apt-get and dpkg)"
            )),
            _ => cannot(format!("{what} could not start: {e}")),
        })
}

/// The error for a fetch that cannot be done: what went wrong, then how to give a kernel.
fn cannot(problem: String) -> Error {
    Error::Unavailable(format!(
        "cannot fetch a guest kernel: {problem} — pass --kernel or set ISOBENCH_KERNEL to a bzImage or vmlinux"
    ))
}

fn remove_if_present(path: &Path) -> Result<(), Error> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(Error::io(format!("remove {}", path.display()), e))
        }
        _ => Ok(()),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_without_apt_is_told_how_to_give_a_kernel() {
        let error = output(&mut Command::new("/nonexistent/apt-cache"), "apt-cache").unwrap_err();
        let text = error.to_string();
        assert!(matches!(error, Error::Unavailable(_)));
        assert!(
            text.contains("/nonexistent/apt-cache is not installed"),
            "{text}"
        );
        assert!(
            text.contains("pass --kernel or set ISOBENCH_KERNEL"),
            "{text}"
        );
        let failed = run(&mut Command::new("false"), "apt-get download x").unwrap_err();
        assert!(
            failed.to_string().contains("apt-get download x failed"),
            "{failed}"
        );
    }
}
