//! Fuzz target for the VMM's report lines (`isobench-vmm --report-fd`): any line either parses to
//! an event that prints back as the same event, or is refused in one line; and every event the
//! VMM can write is one line that reads back as itself.
//! Runs for a bounded time under `cargo test`; under libFuzzer with `cargo bolero test` (README).
use isobench_protocol::{ExitReason, VmmEvent, VmmPhase};

const PHASES: [VmmPhase; 7] = [
    VmmPhase::VmmExec,
    VmmPhase::KvmCreate,
    VmmPhase::Memory,
    VmmPhase::KernelLoad,
    VmmPhase::FirstRun,
    VmmPhase::GuestWorkBegin,
    VmmPhase::GuestWorkEnd,
];
const EXIT_REASONS: [ExitReason; 5] = [
    ExitReason::ExitPort,
    ExitReason::I8042Reset,
    ExitReason::Shutdown,
    ExitReason::Hlt,
    ExitReason::SystemEvent,
];

#[test]
fn any_line_parses_and_prints_back_or_is_refused_in_one_line() {
    bolero::check!().for_each(|bytes: &[u8]| {
        // What the isolator's line reader hands over: one line, newline removed, lossy UTF-8.
        let line = String::from_utf8_lossy(bytes);
        let line = line.split('\n').next().unwrap_or_default();
        match line.parse::<VmmEvent>() {
            Ok(event) => {
                let printed = event.to_string();
                assert!(!printed.contains('\n'), "{printed:?}");
                assert_eq!(printed.parse::<VmmEvent>(), Ok(event), "{line:?}");
            }
            Err(error) => assert!(!error.to_string().contains('\n'), "{error}"),
        }
    });
}

#[test]
fn every_event_is_one_line_that_reads_back_as_itself() {
    bolero::check!()
        .with_type::<(u8, u8, u64, u64, String)>()
        .for_each(|(kind, which, first, second, message)| {
            let event = match kind % 5 {
                0 => VmmEvent::Phase {
                    phase: PHASES[usize::from(*which) % PHASES.len()],
                    at_ns: *first,
                },
                1 => VmmEvent::GuestRam {
                    start: *first,
                    len: *second,
                },
                2 => VmmEvent::Ready { at_ns: *first },
                3 => VmmEvent::Exit {
                    reason: EXIT_REASONS[usize::from(*which) % EXIT_REASONS.len()],
                },
                _ => VmmEvent::Error {
                    message: message.clone(),
                },
            };
            let line = event.to_string();
            assert!(!line.contains('\n'), "{line:?}");
            // An error's message arrives as one line, without surrounding blanks.
            let expected = match &event {
                VmmEvent::Error { message } => VmmEvent::Error {
                    message: message.replace('\n', " ").trim().to_string(),
                },
                other => other.clone(),
            };
            assert_eq!(line.parse::<VmmEvent>(), Ok(expected), "{line:?}");
        });
}
