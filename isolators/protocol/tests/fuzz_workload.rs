//! Fuzz target for the workload grammar (`--workload`, `ISOBENCH_MODE`): any text either parses
//! to a workload that prints back as text parsing to the same workload, or is refused in one line.
//! Runs for a bounded time under `cargo test`; under libFuzzer with `cargo bolero test` (README).
use isobench_protocol::workload::{Mode, Workload};

fn check_text(text: &str) {
    match text.parse::<Workload>() {
        Ok(workload) => {
            let printed = workload.to_string();
            assert_eq!(
                printed.parse::<Workload>(),
                Ok(workload),
                "{text:?} printed as {printed:?}"
            );
            assert_eq!(printed.parse::<Workload>().unwrap().to_string(), printed);
        }
        Err(error) => {
            let line = error.to_string();
            assert!(!line.contains('\n'), "not one line: {line:?}");
            assert!(!line.is_empty());
        }
    }
}

#[test]
fn any_text_parses_and_prints_back_or_is_refused_in_one_line() {
    bolero::check!().for_each(|bytes: &[u8]| {
        if let Ok(text) = std::str::from_utf8(bytes) {
            check_text(text);
        }
    });
}

/// Every workload the grammar can express prints as text that reads back as itself.
#[test]
fn every_workload_prints_back_as_itself() {
    bolero::check!()
        .with_type::<(u8, u64, u64)>()
        .for_each(|&(mode, amount, startup_delay_us)| {
            let mode = match mode % 6 {
                0 => Mode::Noop,
                1 => Mode::Touch { mib: amount },
                2 => Mode::Cpu {
                    million_iterations: amount,
                },
                3 => Mode::Syscall { calls: amount },
                4 => Mode::Mem { mib: amount },
                _ => Mode::Io { kib: amount },
            };
            let workload = Workload {
                mode,
                startup_delay_us,
            };
            let text = workload.to_string();
            match text.parse::<Workload>() {
                Ok(read) => assert_eq!(read, workload, "{text}"),
                // Only sizes the probe cannot run are refused.
                Err(error) => assert!(
                    matches!(
                        mode,
                        Mode::Touch { .. } | Mode::Mem { .. } | Mode::Io { .. }
                    ),
                    "{text}: {error}"
                ),
            }
        });
}
