//! `isobench-vmm`: boots one VM and reports its phases and boot-timer stamp to the harness.
use std::process::ExitCode;

use isobench_protocol::{VmmEvent, VmmPhase};
use isobench_vmm::config::{self, Command};
use isobench_vmm::report::Reporter;
use isobench_vmm::vm;

fn main() -> ExitCode {
    let mut report = Reporter::default();
    let start_ns = isobench_vmm::report::monotonic_ns();
    let config = match config::parse(std::env::args().skip(1)) {
        Ok(Command::Run(config)) => config,
        Ok(Command::Help) => {
            println!("{}", config::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("isobench-vmm: {error}");
            return ExitCode::from(2);
        }
    };
    if let Some(fd) = config.report_fd {
        report = match Reporter::from_fd(fd) {
            Ok(report) => report,
            Err(error) => {
                eprintln!("isobench-vmm: {error}");
                return ExitCode::from(2);
            }
        };
    }
    report.phase_at(VmmPhase::VmmExec, start_ns);
    match vm::run(&config, &mut report) {
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
