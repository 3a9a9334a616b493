//! Finding an engine binary (PATH or `--engine NAME=PATH`), proving it is that engine, and its version.
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use crate::isolator::Availability;
use crate::options::IsolatorOptions;
use crate::{reap, Error};

/// Unavailable unless isobench runs as root: `name` needs root here, and isobench does not
/// set up its rootless mode.
pub fn require_root(host: &crate::host::Host, name: &str) -> Option<Availability> {
    (!host.is_root).then(|| {
        Availability::unavailable(format!(
            "{name} needs root here (its rootless set-up is not isobench's job) — run isobench as root"
        ))
    })
}

/// How long `ENGINE --version` may take before we call the engine broken.
const VERSION_TIMEOUT: Duration = Duration::from_secs(5);

/// What identifies an engine: its isolator name, its executable, how to get it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineSpec {
    /// The isolator's name, which is also the `--engine` key.
    pub name: &'static str,
    /// The executable looked up on PATH when there is no override.
    pub program: &'static str,
    /// What to tell a user who does not have it.
    pub install_hint: &'static str,
    /// Words (lower case) the first lines of `--version` must contain.
    pub version_marker: &'static str,
}

/// One engine executable: where it is, and what it says its version is (asked once).
#[derive(Debug)]
pub struct Engine {
    /// The isolator's name: the `--engine` key, and how messages name the engine.
    name: String,
    program: &'static str,
    install_hint: &'static str,
    version_marker: &'static str,
    /// `--engine KEY=PATH`, as (KEY, PATH).
    override_path: Option<(String, PathBuf)>,
    version: OnceLock<Result<String, String>>,
}

impl Engine {
    pub fn new(spec: EngineSpec, options: &IsolatorOptions) -> Engine {
        Engine::for_isolator(spec, spec.name, options)
    }

    /// The engine of a second isolator over the same program (e.g. `qemu-microvm-linux`):
    /// `--engine <isolator>=PATH` overrides it, else `--engine <spec.name>=PATH`.
    pub fn for_isolator(spec: EngineSpec, isolator: &str, options: &IsolatorOptions) -> Engine {
        let override_path = [isolator, spec.name].into_iter().find_map(|key| {
            let path = options.engine_paths.get(key)?;
            Some((key.to_string(), path.clone()))
        });
        Engine {
            name: isolator.to_string(),
            program: spec.program,
            install_hint: spec.install_hint,
            version_marker: spec.version_marker,
            override_path,
            version: OnceLock::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The executable, or a sentence saying how to get one.
    pub fn path(&self) -> Result<PathBuf, String> {
        match &self.override_path {
            Some((_, path)) if is_executable(path) => Ok(path.clone()),
            Some((key, path)) => Err(format!(
                "{} (from --engine {key}={}) is not an executable file",
                path.display(),
                path.display()
            )),
            None => crate::host::which(self.program).ok_or_else(|| {
                format!(
                    "{} not found — {} (or pass --engine {}=PATH)",
                    self.program, self.install_hint, self.name
                )
            }),
        }
    }

    /// The engine's own version line, asked once; an error when the binary is not this engine.
    pub fn version(&self) -> Result<String, String> {
        self.version
            .get_or_init(|| {
                let path = self.path()?;
                let said = version_output(&path)?;
                let first_lines: Vec<&str> = said.lines().take(3).collect();
                first_lines
                    .iter()
                    .find(|line| line.to_lowercase().contains(self.version_marker))
                    .map(|line| line.trim().to_string())
                    .ok_or_else(|| {
                        format!(
                            "{} is not {}: `--version` said {:?}",
                            path.display(),
                            self.name,
                            first_lines.join(" / ")
                        )
                    })
            })
            .clone()
    }

    /// The version for `describe()`: the engine's line, or "unknown (why)".
    pub fn version_text(&self) -> String {
        self.version()
            .unwrap_or_else(|why| format!("{} unknown ({why})", self.name))
    }

    pub fn availability(&self) -> Availability {
        match self.version() {
            Ok(_) => Availability::Available,
            Err(reason) => Availability::unavailable(reason),
        }
    }

    /// The executable, for prepare/launch, as an error the runner can print.
    pub fn require(&self) -> Result<PathBuf, Error> {
        self.version().map_err(Error::Unavailable)?;
        self.path().map_err(Error::Unavailable)
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Runs `path --version` with a deadline; stdout and stderr together.
fn version_output(path: &Path) -> Result<String, String> {
    ask(path, "--version")
}

/// Runs `path arg` (an engine asked who it is) with a deadline; stdout and stderr together.
pub(crate) fn ask(path: &Path, arg: &str) -> Result<String, String> {
    let mut child = Command::new(path)
        .arg(arg)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {} {arg}: {e}", path.display()))?;
    let pid = child.id() as i32;
    // These texts are far smaller than a pipe buffer, so waiting before reading is safe.
    if let Err(error) = reap::wait_exit(pid, VERSION_TIMEOUT, &format!("`{arg}` to answer")) {
        reap::kill_and_reap(pid);
        return Err(format!("{} {arg}: {error}", path.display()));
    }
    let mut text = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut text);
    }
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut text);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_not_on_path_says_how_to_install_it() {
        let spec = EngineSpec {
            name: "crun",
            program: "crun-isobench-not-installed",
            install_hint: "apt-get install crun",
            version_marker: "crun version",
        };
        let engine = Engine::new(spec, &IsolatorOptions::default());
        assert_eq!(
            engine.availability(),
            Availability::unavailable(
                "crun-isobench-not-installed not found — apt-get install crun (or pass --engine crun=PATH)"
            )
        );
    }

    #[test]
    fn the_version_line_is_the_one_with_the_marker() {
        let options = IsolatorOptions {
            engine_paths: [("sh".to_string(), PathBuf::from("/bin/sh"))].into(),
            ..Default::default()
        };
        // `sh --version` fails on dash and prints "GNU bash, version …" on bash: neither is "runc".
        let spec = EngineSpec {
            name: "sh",
            program: "sh",
            install_hint: "apt-get install dash",
            version_marker: "runc version",
        };
        let engine = Engine::new(spec, &options);
        let error = engine.version().unwrap_err();
        assert!(
            error.starts_with("/bin/sh is not sh: `--version` said"),
            "{error}"
        );
        assert!(engine.version_text().starts_with("sh unknown ("));
    }
}
