//! `isobench-vmm`: boots one VM and reports its phases and boot-timer stamp to the harness.
use std::process::ExitCode;

use isobench_protocol::{VmmEvent, VmmPhase};
use isobench_vmm::config::{self, Command};
use isobench_vmm::report::Reporter;
use isobench_vmm::{restore, vm};

fn main() -> ExitCode {
    let mut report = Reporter::default();
    let start_ns = isobench_vmm::report::monotonic_ns();
    let command = match config::parse(std::env::args().skip(1)) {
        Ok(Command::Help) => {
            println!("{}", config::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(command) => command,
        Err(error) => {
            eprintln!("isobench-vmm: {error}");
            return ExitCode::from(2);
        }
    };
    let report_fd = match &command {
        Command::Run(config) => config.report_fd,
        Command::Restore(restore) => restore.report_fd,
        Command::Help => None,
    };
    if let Some(fd) = report_fd {
        report = match Reporter::from_fd(fd) {
            Ok(report) => report,
            Err(error) => {
                eprintln!("isobench-vmm: {error}");
                return ExitCode::from(2);
            }
        };
    }
    report.hold();
    report.phase_at(VmmPhase::VmmExec, start_ns);
    let outcome = match &command {
        Command::Run(config) => vm::run(config, &mut report),
        Command::Restore(restore) => restore::run(restore, &mut report),
        Command::Help => return ExitCode::SUCCESS,
    };
    match outcome {
        // `vm::run` wrote the `exit <reason>` line before tearing the VM down.
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            report.event(&VmmEvent::Error {
                message: error.to_string(),
            });
            eprintln!("isobench-vmm: {error}");
            ExitCode::FAILURE
        }
    }
}
