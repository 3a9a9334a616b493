//! The user's command (`isobench run --cmd … --ready …`): what the probe supervises in `exec`
//! mode, its readiness check, and the spec file that carries both into every isolate.
//!
//! The spec file is text, one field per line, `key value`; values are escaped (`\\`, `\n`,
//! `\t`) so that any argument or environment value round-trips. The probe reads it from
//! [`SPEC_FILE_NAME`] at the isolate's root (or `--spec PATH`).
use std::fmt;
use std::str::FromStr;

/// The spec file's name at the root of every rootfs and initramfs that runs a user command.
pub const SPEC_FILE_NAME: &str = "isobench-workload";

/// How long the command may take to pass its readiness check when `--ready-timeout` is not given.
pub const DEFAULT_READY_TIMEOUT_MS: u64 = 30_000;
/// How long the command gets between SIGTERM and SIGKILL when `--stop-grace` is not given.
pub const DEFAULT_STOP_GRACE_MS: u64 = 2_000;

/// The probe's exit status in `exec` mode when the command ended before its readiness check
/// passed (the probe printed how it ended and its last output lines).
pub const EXEC_EXIT_COMMAND_ENDED: i32 = 4;
/// The probe's exit status in `exec` mode when the readiness check did not pass within
/// `ready_timeout_ms` (the probe stopped the command and printed its last output lines).
pub const EXEC_EXIT_NOT_READY: i32 = 5;

/// When the user's command counts as ready, checked inside the isolate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReadyCheck {
    /// `tcp:PORT`: a TCP connect to 127.0.0.1:PORT succeeds (loopback is brought up first).
    Tcp { port: u16 },
    /// `file:PATH`: PATH exists inside the isolate.
    File { path: String },
    /// `log:REGEX`: a line of the command's stdout or stderr matches REGEX.
    Log { regex: String },
    /// `exit:CODE`: the command exited with CODE (a batch job: startup is its whole run).
    Exit { code: i32 },
}

/// Why a readiness check or a spec file was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCommandError(pub String);

impl fmt::Display for UserCommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UserCommandError {}

impl FromStr for ReadyCheck {
    type Err = UserCommandError;

    fn from_str(text: &str) -> Result<ReadyCheck, UserCommandError> {
        let bad = |why: &str| {
            UserCommandError(format!(
                "readiness check {text:?}: {why}; use tcp:PORT, file:PATH, log:REGEX or exit:CODE"
            ))
        };
        let (kind, value) = text.split_once(':').ok_or_else(|| bad("no kind"))?;
        match kind {
            "tcp" => match value.parse::<u16>() {
                Ok(port) if port > 0 => Ok(ReadyCheck::Tcp { port }),
                _ => Err(bad("the port must be 1 to 65535")),
            },
            "file" if value.starts_with('/') => Ok(ReadyCheck::File {
                path: value.to_string(),
            }),
            "file" => Err(bad("the path must be absolute (inside the isolate)")),
            "log" if !value.is_empty() => Ok(ReadyCheck::Log {
                regex: value.to_string(),
            }),
            "log" => Err(bad("the regex is empty")),
            "exit" => value
                .parse::<i32>()
                .ok()
                .filter(|code| (0..=255).contains(code))
                .map(|code| ReadyCheck::Exit { code })
                .ok_or_else(|| bad("the exit code must be 0 to 255")),
            _ => Err(bad("unknown kind")),
        }
    }
}

impl fmt::Display for ReadyCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadyCheck::Tcp { port } => write!(f, "tcp:{port}"),
            ReadyCheck::File { path } => write!(f, "file:{path}"),
            ReadyCheck::Log { regex } => write!(f, "log:{regex}"),
            ReadyCheck::Exit { code } => write!(f, "exit:{code}"),
        }
    }
}

/// The command the probe supervises, and how.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserCommand {
    /// The program and its arguments; `argv[0]` is looked up in `PATH` inside the isolate when
    /// it has no `/`.
    pub argv: Vec<String>,
    /// `KEY=VALUE` pairs set on top of a minimal environment (`PATH`, `HOME=/`).
    pub env: Vec<(String, String)>,
    /// The working directory inside the isolate.
    pub workdir: String,
    pub ready: ReadyCheck,
    /// How long the check may take to pass, from the command's start.
    pub ready_timeout_ms: u64,
    /// Time between SIGTERM and SIGKILL when the instance is released.
    pub stop_grace_ms: u64,
}

impl UserCommand {
    /// The spec file's text.
    pub fn to_spec(&self) -> String {
        let mut text = String::new();
        for arg in &self.argv {
            text.push_str(&format!("arg {}\n", escape(arg)));
        }
        for (key, value) in &self.env {
            text.push_str(&format!("env {}={}\n", escape(key), escape(value)));
        }
        text.push_str(&format!("workdir {}\n", escape(&self.workdir)));
        text.push_str(&format!("ready {}\n", escape(&self.ready.to_string())));
        text.push_str(&format!("ready_timeout_ms {}\n", self.ready_timeout_ms));
        text.push_str(&format!("stop_grace_ms {}\n", self.stop_grace_ms));
        text
    }

    /// Reads a spec file's text.
    pub fn from_spec(text: &str) -> Result<UserCommand, UserCommandError> {
        let bad = |line: &str, why: &str| UserCommandError(format!("spec line {line:?}: {why}"));
        let mut command = UserCommand {
            argv: Vec::new(),
            env: Vec::new(),
            workdir: "/".into(),
            ready: ReadyCheck::Exit { code: 0 },
            ready_timeout_ms: DEFAULT_READY_TIMEOUT_MS,
            stop_grace_ms: DEFAULT_STOP_GRACE_MS,
        };
        let mut ready = None;
        for line in text.lines().filter(|l| !l.is_empty()) {
            let (key, raw) = line.split_once(' ').unwrap_or((line, ""));
            let value = unescape(raw).map_err(|why| bad(line, &why))?;
            let number = |v: &str| v.parse::<u64>().map_err(|_| bad(line, "not a number"));
            match key {
                "arg" => command.argv.push(value),
                "env" => {
                    let (k, v) = value.split_once('=').ok_or_else(|| bad(line, "no ="))?;
                    command.env.push((k.to_string(), v.to_string()));
                }
                "workdir" => command.workdir = value,
                "ready" => ready = Some(value.parse::<ReadyCheck>()?),
                "ready_timeout_ms" => command.ready_timeout_ms = number(&value)?,
                "stop_grace_ms" => command.stop_grace_ms = number(&value)?,
                _ => return Err(bad(line, "unknown key")),
            }
        }
        if command.argv.is_empty() {
            return Err(UserCommandError("spec: no command (no arg line)".into()));
        }
        command.ready = ready.ok_or_else(|| UserCommandError("spec: no ready line".into()))?;
        Ok(command)
    }
}

fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

fn unescape(value: &str) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            other => return Err(format!("bad escape \\{}", other.unwrap_or(' '))),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_parse_and_print_back() {
        for text in [
            "tcp:8080",
            "file:/run/ready",
            "log:Serving HTTP on .*",
            "exit:0",
        ] {
            assert_eq!(text.parse::<ReadyCheck>().unwrap().to_string(), text);
        }
        for bad in [
            "tcp:0", "tcp:x", "file:rel", "log:", "exit:256", "http:80", "tcp",
        ] {
            let error = bad.parse::<ReadyCheck>().unwrap_err().to_string();
            assert!(error.contains("use tcp:PORT"), "{bad}: {error}");
        }
    }

    #[test]
    fn spec_round_trips_awkward_values() {
        let command = UserCommand {
            argv: vec!["sh".into(), "-c".into(), "echo 'a\\b'\nexit 0\t".into()],
            env: vec![("A".into(), "x=y z".into())],
            workdir: "/srv/my app".into(),
            ready: ReadyCheck::Log {
                regex: "ready \\d+".into(),
            },
            ready_timeout_ms: 5,
            stop_grace_ms: 7,
        };
        assert_eq!(UserCommand::from_spec(&command.to_spec()).unwrap(), command);
    }

    #[test]
    fn spec_without_command_or_check_is_refused() {
        assert!(UserCommand::from_spec("ready exit:0\n").is_err());
        assert!(UserCommand::from_spec("arg true\n").is_err());
        assert!(UserCommand::from_spec("arg true\nready exit:0\nbogus 1\n").is_err());
        assert!(UserCommand::from_spec("arg a\\qb\nready exit:0\n").is_err());
    }
}
