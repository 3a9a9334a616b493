//! The report pipe of `isobench-vmm`: one line per event, written by [`VmmEvent`]'s `Display`
//! in the VMM and read by its `FromStr` in the isolator — the same code both ways.
use std::fmt;
use std::str::FromStr;

/// A named moment in the VM's start, stamped with CLOCK_MONOTONIC by the VMM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VmmPhase {
    /// The VMM's `main` started (exec done).
    VmmExec,
    /// The VM, its irqchip and PIT exist.
    KvmCreate,
    /// Guest RAM is mapped and registered.
    Memory,
    /// The guest image is loaded.
    KernelLoad,
    /// The vCPU is about to run for the first time.
    FirstRun,
    /// The guest wrote 124 to the boot-timer port: its timed work begins.
    GuestWorkBegin,
    /// The guest wrote 125: its timed work ended.
    GuestWorkEnd,
    /// Snapshot run: guest memory and VM state are written to the snapshot directory.
    Snapshot,
    /// Restore: the state file is checked and the memory file is mapped copy-on-write and
    /// registered as guest RAM.
    SnapshotMap,
    /// Restore: the chips, clock, vCPU and serial port hold the snapshot's state.
    RestoreState,
    /// Restore: the vCPU is about to run the restored guest.
    Resume,
    /// Restore into a VMM started ahead (`--start-fd`): the start byte arrived, the restore
    /// begins.
    RestoreStart,
}

const PHASES: [VmmPhase; 12] = [
    VmmPhase::VmmExec,
    VmmPhase::KvmCreate,
    VmmPhase::Memory,
    VmmPhase::KernelLoad,
    VmmPhase::FirstRun,
    VmmPhase::GuestWorkBegin,
    VmmPhase::GuestWorkEnd,
    VmmPhase::Snapshot,
    VmmPhase::SnapshotMap,
    VmmPhase::RestoreState,
    VmmPhase::Resume,
    VmmPhase::RestoreStart,
];

impl VmmPhase {
    /// The phase's name in the report pipe and in results files.
    pub fn as_str(self) -> &'static str {
        match self {
            VmmPhase::VmmExec => "vmm-exec",
            VmmPhase::KvmCreate => "kvm-create",
            VmmPhase::Memory => "memory",
            VmmPhase::KernelLoad => "kernel-load",
            VmmPhase::FirstRun => "first-run",
            VmmPhase::GuestWorkBegin => "guest-work-begin",
            VmmPhase::GuestWorkEnd => "guest-work-end",
            VmmPhase::Snapshot => "snapshot",
            VmmPhase::SnapshotMap => "snapshot-map",
            VmmPhase::RestoreState => "restore-state",
            VmmPhase::Resume => "resume",
            VmmPhase::RestoreStart => "restore-start",
        }
    }
}

/// How the guest ended the VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitReason {
    /// A write to the exit port (isobench's guests write it first).
    ExitPort,
    /// A reset through the i8042 controller (Linux with `reboot=k`).
    I8042Reset,
    /// A triple fault or shutdown exit.
    Shutdown,
    /// `hlt` with interrupts off: the guest stopped for good.
    Hlt,
    /// An architectural system event (ACPI power-off or reset).
    SystemEvent,
}

const EXIT_REASONS: [ExitReason; 5] = [
    ExitReason::ExitPort,
    ExitReason::I8042Reset,
    ExitReason::Shutdown,
    ExitReason::Hlt,
    ExitReason::SystemEvent,
];

impl ExitReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ExitReason::ExitPort => "exit-port",
            ExitReason::I8042Reset => "i8042-reset",
            ExitReason::Shutdown => "shutdown",
            ExitReason::Hlt => "hlt",
            ExitReason::SystemEvent => "system-event",
        }
    }

    /// Whether the guest powered off as asked (not a crash or a stuck CPU).
    pub fn is_clean(self) -> bool {
        matches!(
            self,
            ExitReason::ExitPort | ExitReason::I8042Reset | ExitReason::SystemEvent
        )
    }
}

/// One line on the report pipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VmmEvent {
    /// `phase <name> <monotonic ns>`
    Phase { phase: VmmPhase, at_ns: u64 },
    /// `guest-ram <host start, hex> <length>`
    GuestRam { start: u64, len: u64 },
    /// `ready <monotonic ns>`: the guest wrote 123 to the boot-timer port (a restored guest:
    /// its first port or MMIO access after resume).
    Ready { at_ns: u64 },
    /// `memory-crc32 <hex>`: checksum of guest RAM's non-zero pages, when a snapshot was
    /// written or (`--verify-memory`) after a restore, before the guest runs.
    MemoryChecksum { crc32: u32 },
    /// `exit <reason>`
    Exit { reason: ExitReason },
    /// `error <message>` (one line: newlines become spaces)
    Error { message: String },
}

impl fmt::Display for VmmEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VmmEvent::Phase { phase, at_ns } => write!(f, "phase {} {at_ns}", phase.as_str()),
            VmmEvent::GuestRam { start, len } => write!(f, "guest-ram {start:x} {len}"),
            VmmEvent::Ready { at_ns } => write!(f, "ready {at_ns}"),
            VmmEvent::MemoryChecksum { crc32 } => write!(f, "memory-crc32 {crc32:08x}"),
            VmmEvent::Exit { reason } => write!(f, "exit {}", reason.as_str()),
            VmmEvent::Error { message } => write!(f, "error {}", message.replace('\n', " ")),
        }
    }
}

/// A report line that is not one of [`VmmEvent`]'s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownEvent(pub String);

impl fmt::Display for UnknownEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not an isobench-vmm report line: {:?}", self.0)
    }
}

impl std::error::Error for UnknownEvent {}

impl FromStr for VmmEvent {
    type Err = UnknownEvent;

    fn from_str(line: &str) -> Result<VmmEvent, UnknownEvent> {
        let parse = || -> Option<VmmEvent> {
            let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
            let mut fields = rest.split_whitespace();
            let mut field = || fields.next();
            Some(match word {
                "phase" => {
                    let name = field()?;
                    VmmEvent::Phase {
                        phase: *PHASES.iter().find(|p| p.as_str() == name)?,
                        at_ns: field()?.parse().ok()?,
                    }
                }
                "guest-ram" => VmmEvent::GuestRam {
                    start: u64::from_str_radix(field()?, 16).ok()?,
                    len: field()?.parse().ok()?,
                },
                "ready" => VmmEvent::Ready {
                    at_ns: field()?.parse().ok()?,
                },
                "memory-crc32" => VmmEvent::MemoryChecksum {
                    crc32: u32::from_str_radix(field()?, 16).ok()?,
                },
                "exit" => VmmEvent::Exit {
                    reason: *EXIT_REASONS.iter().find(|r| r.as_str() == rest.trim())?,
                },
                "error" => VmmEvent::Error {
                    message: rest.trim().to_string(),
                },
                _ => return None,
            })
        };
        parse().ok_or_else(|| UnknownEvent(line.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(event: VmmEvent) {
        let line = event.to_string();
        assert_eq!(line.parse::<VmmEvent>(), Ok(event), "{line}");
    }

    #[test]
    fn every_event_reads_back_as_written() {
        for phase in PHASES {
            round_trip(VmmEvent::Phase { phase, at_ns: 1234 });
        }
        for reason in EXIT_REASONS {
            round_trip(VmmEvent::Exit { reason });
        }
        round_trip(VmmEvent::GuestRam {
            start: 0x7f00_a000_0000,
            len: 134_217_728,
        });
        round_trip(VmmEvent::Ready { at_ns: 99 });
        round_trip(VmmEvent::MemoryChecksum { crc32: 0x0badf00d });
        round_trip(VmmEvent::Error {
            message: "kernel /x: no such file".into(),
        });
    }

    #[test]
    fn the_wire_format_is_stable() {
        assert_eq!(
            "guest-ram 7f00a0000000 134217728".parse::<VmmEvent>(),
            Ok(VmmEvent::GuestRam {
                start: 0x7f00_a000_0000,
                len: 134_217_728
            })
        );
        assert_eq!(
            VmmEvent::Phase {
                phase: VmmPhase::VmmExec,
                at_ns: 5
            }
            .to_string(),
            "phase vmm-exec 5"
        );
    }

    #[test]
    fn refuses_what_it_does_not_know() {
        for line in [
            "ready soon",
            "hello",
            "exit melted",
            "phase warp 3",
            "guest-ram zz 1",
            "",
        ] {
            assert!(line.parse::<VmmEvent>().is_err(), "{line}");
        }
        let multi = VmmEvent::Error {
            message: "a\nb".into(),
        };
        assert_eq!(multi.to_string(), "error a b");
    }
}
