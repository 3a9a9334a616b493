//! The probe's workload grammar: `noop`, `touch:<MiB>`, `cpu:<M>`, `syscall:<N>`, `mem:<MiB>`,
//! `io:<KiB>`, `exec` (the user's command, see [`crate::user_command`]), optionally followed by `,delay_us=<N>`. The one place that parses and prints it,
//! and that knows what each mode holds.
use std::fmt;
use std::str::FromStr;

/// What the probe does before it signals ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Nothing: ready at once.
    Noop,
    /// Fault in `mib` MiB (one write per page) and hold it.
    Touch { mib: u64 },
    /// `million_iterations` million rounds of xorshift32.
    Cpu { million_iterations: u64 },
    /// `calls` round trips into the kernel (getppid).
    Syscall { calls: u64 },
    /// Copy a `mib` MiB buffer eight times.
    Mem { mib: u64 },
    /// Write `kib` KiB to a file, fsync it, remove it.
    Io { kib: u64 },
    /// Supervise the user's command described in the spec file
    /// ([`crate::user_command::SPEC_FILE_NAME`] at the root, or `--spec PATH`): start it, wait
    /// for its readiness check, hold, then stop it. Spelled `exec`.
    Exec,
}

/// A workload: the mode, and a deliberate delay before ready (test-only: proves that
/// `isobench compare` catches a slowdown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Workload {
    pub mode: Mode,
    pub startup_delay_us: u64,
}

/// Why a workload string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkloadError {
    /// The mode's name is not one the probe knows.
    UnknownMode { text: String },
    /// A number that is not a whole number.
    NotANumber { text: String, value: String },
    /// A number outside what the probe accepts.
    OutOfRange { text: String, allowed: &'static str },
}

impl fmt::Display for WorkloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkloadError::UnknownMode { text } => write!(
                f,
                "unknown workload {text:?}: use noop, touch:<MiB>, cpu:<M iterations>, syscall:<N>, mem:<MiB>, io:<KiB> or exec (the command given with --cmd)"
            ),
            WorkloadError::NotANumber { text, value } => {
                write!(f, "workload {text:?}: {value:?} is not a whole number")
            }
            WorkloadError::OutOfRange { text, allowed } => {
                write!(f, "workload {text:?}: {allowed}")
            }
        }
    }
}

impl std::error::Error for WorkloadError {}

impl Mode {
    /// The mode's name: `noop`, `touch`, `cpu`, `syscall`, `mem` or `io`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Noop => "noop",
            Mode::Touch { .. } => "touch",
            Mode::Cpu { .. } => "cpu",
            Mode::Syscall { .. } => "syscall",
            Mode::Mem { .. } => "mem",
            Mode::Io { .. } => "io",
            Mode::Exec => "exec",
        }
    }

    /// The mode's number (MiB, iterations, calls, KiB); none for `noop`.
    pub fn amount(self) -> Option<u64> {
        match self {
            Mode::Noop | Mode::Exec => None,
            Mode::Touch { mib } | Mode::Mem { mib } => Some(mib),
            Mode::Cpu { million_iterations } => Some(million_iterations),
            Mode::Syscall { calls } => Some(calls),
            Mode::Io { kib } => Some(kib),
        }
    }
}

impl Workload {
    pub const fn noop() -> Workload {
        Workload {
            mode: Mode::Noop,
            startup_delay_us: 0,
        }
    }

    /// The same workload with a delay of `delay_us` before ready.
    pub fn with_startup_delay_us(self, delay_us: u64) -> Workload {
        Workload {
            startup_delay_us: delay_us,
            ..self
        }
    }

    /// The mode's name: `noop`, `touch`, `cpu`, `syscall`, `mem` or `io`.
    pub fn name(&self) -> &'static str {
        self.mode.name()
    }

    /// Whether the probe writes files (`io`), so the instance needs a writable directory.
    pub fn writes_files(&self) -> bool {
        matches!(self.mode, Mode::Io { .. })
    }

    /// Memory the workload itself holds while ready (`touch`), so it is not taken for overhead.
    pub fn held_bytes(&self) -> u64 {
        match self.mode {
            Mode::Touch { mib } => mib << 20,
            _ => 0,
        }
    }
}

/// The default amount of each mode, when none is given (`touch` alone is `touch:16`).
fn default_amount(name: &str) -> Option<u64> {
    Some(match name {
        "touch" => 16,
        "cpu" => 50,
        "syscall" => 1_000_000,
        "mem" => 64,
        "io" => 1024,
        _ => return None,
    })
}

/// Sizes the probe accepts; beyond them it would panic or fail to allocate.
const MAX_MIB: u64 = 1 << 20;

impl FromStr for Workload {
    type Err = WorkloadError;

    fn from_str(text: &str) -> Result<Workload, WorkloadError> {
        let number = |value: &str| {
            value.parse::<u64>().map_err(|_| WorkloadError::NotANumber {
                text: text.to_string(),
                value: value.to_string(),
            })
        };
        let (mode_text, startup_delay_us) = match text.split_once(",delay_us=") {
            Some((mode, us)) => (mode, number(us)?),
            None => (text, 0),
        };
        let (name, value) = match mode_text.split_once(':') {
            Some((name, value)) => (name, Some(value)),
            None => (mode_text, None),
        };
        let unknown = || WorkloadError::UnknownMode {
            text: text.to_string(),
        };
        let amount = match (name, value) {
            ("noop" | "exec", None) => 0,
            ("noop" | "exec", Some(_)) => return Err(unknown()),
            (name, Some(value)) if default_amount(name).is_some() => number(value)?,
            (name, None) => default_amount(name).ok_or_else(unknown)?,
            _ => return Err(unknown()),
        };
        let out_of_range = |allowed| WorkloadError::OutOfRange {
            text: text.to_string(),
            allowed,
        };
        let mode = match name {
            "noop" => Mode::Noop,
            "exec" => Mode::Exec,
            "touch" if amount > MAX_MIB => {
                return Err(out_of_range("touch takes at most 1048576 MiB"))
            }
            "touch" => Mode::Touch { mib: amount },
            "cpu" => Mode::Cpu {
                million_iterations: amount,
            },
            "syscall" => Mode::Syscall { calls: amount },
            "mem" if amount == 0 || amount > MAX_MIB => {
                return Err(out_of_range("mem takes 1 to 1048576 MiB"))
            }
            "mem" => Mode::Mem { mib: amount },
            "io" if amount > MAX_MIB => return Err(out_of_range("io takes at most 1048576 KiB")),
            _ => Mode::Io { kib: amount },
        };
        Ok(Workload {
            mode,
            startup_delay_us,
        })
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.amount() {
            Some(amount) => write!(f, "{}:{amount}", self.name()),
            None => f.write_str(self.name()),
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.mode)?;
        if self.startup_delay_us > 0 {
            write!(f, ",delay_us={}", self.startup_delay_us)?;
        }
        Ok(())
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Workload {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Workload {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Workload, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Workload, WorkloadError> {
        text.parse()
    }

    #[test]
    fn every_mode_round_trips() {
        for text in [
            "noop",
            "touch:8",
            "cpu:2",
            "syscall:10",
            "mem:1",
            "io:64",
            "noop,delay_us=50",
        ] {
            assert_eq!(parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn a_bare_name_takes_the_probes_default() {
        assert_eq!(parse("touch").unwrap().mode, Mode::Touch { mib: 16 });
        assert_eq!(parse("touch").unwrap().held_bytes(), 16 << 20);
        assert_eq!(parse("io").unwrap().to_string(), "io:1024");
    }

    #[test]
    fn refuses_what_the_probe_cannot_run() {
        assert!(matches!(
            parse("sleep"),
            Err(WorkloadError::UnknownMode { .. })
        ));
        assert!(matches!(
            parse("noop:3"),
            Err(WorkloadError::UnknownMode { .. })
        ));
        assert!(matches!(
            parse("touch:lots"),
            Err(WorkloadError::NotANumber { .. })
        ));
        assert!(matches!(
            parse("noop,delay_us=soon"),
            Err(WorkloadError::NotANumber { .. })
        ));
        assert!(matches!(
            parse("mem:0"),
            Err(WorkloadError::OutOfRange { .. })
        ));
        assert!(matches!(
            parse("touch:999999999"),
            Err(WorkloadError::OutOfRange { .. })
        ));
        assert!(parse("sleep").unwrap_err().to_string().contains("use noop"));
    }

    #[test]
    fn knows_what_each_mode_holds_and_writes() {
        assert!(parse("io:64").unwrap().writes_files());
        assert!(parse("io,delay_us=5").unwrap().writes_files());
        assert!(!parse("touch:1").unwrap().writes_files());
        assert_eq!(parse("cpu:3").unwrap().held_bytes(), 0);
        assert_eq!(
            Workload::noop().with_startup_delay_us(50).to_string(),
            "noop,delay_us=50"
        );
    }
}
