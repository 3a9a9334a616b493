//! Finding `lxc-start` (PATH or `--engine lxc=PATH`) and proving it is LXC's: its `--version`
//! is a bare number ("5.0.2"), so the identity comes from `--help`, whose usage line names
//! `lxc-start` and whose options include `--lxcpath`.
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::external::engine::{ask, Engine, EngineSpec};
use crate::isolator::Availability;
use crate::options::IsolatorOptions;
use crate::Error;

/// The lxc isolator's engine: `lxc-start`, from Debian's `lxc` package.
pub const SPEC: EngineSpec = EngineSpec {
    name: "lxc",
    program: "lxc-start",
    install_hint: "apt-get install lxc, or scripts/install-peers.sh",
    // Unused: `lxc-start --version` prints only the number (see the module note).
    version_marker: "lxc",
};

/// `lxc-start`, where it is and what version it says it is (asked once).
#[derive(Debug)]
pub struct LxcEngine {
    engine: Engine,
    version: OnceLock<Result<String, String>>,
}

impl LxcEngine {
    pub fn new(options: &IsolatorOptions) -> LxcEngine {
        LxcEngine {
            engine: Engine::new(SPEC, options),
            version: OnceLock::new(),
        }
    }

    /// "lxc-start 5.0.2", or one line saying why this is not a usable LXC.
    pub fn version(&self) -> Result<String, String> {
        self.version
            .get_or_init(|| {
                let path = self.engine.path()?;
                identify(&path)
            })
            .clone()
    }

    pub fn version_text(&self) -> String {
        self.version()
            .unwrap_or_else(|why| format!("lxc unknown ({why})"))
    }

    pub fn availability(&self) -> Availability {
        match self.version() {
            Ok(_) => Availability::Available,
            Err(reason) => Availability::unavailable(reason),
        }
    }

    /// The executable, for prepare, as an error the runner can print.
    pub fn require(&self) -> Result<PathBuf, Error> {
        self.version().map_err(Error::Unavailable)?;
        self.engine.path().map_err(Error::Unavailable)
    }
}

/// Checks that `path` is LXC's `lxc-start` and returns "lxc-start VERSION".
pub fn identify(path: &Path) -> Result<String, String> {
    let help = ask(path, "--help")?;
    let usage = help.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    if !(usage.contains("lxc-start") && help.contains("--lxcpath")) {
        return Err(format!(
            "{} is not LXC's lxc-start: `--help` said {:?} — pass --engine lxc=/usr/bin/lxc-start, or apt-get install lxc",
            path.display(),
            usage.trim().chars().take(80).collect::<String>()
        ));
    }
    let said = ask(path, "--version")?;
    let version = said.trim();
    if version.is_empty() || !version.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!(
            "{}: `--version` said {version:?}, not an LXC version number",
            path.display()
        ));
    }
    Ok(format!("lxc-start {version}"))
}
