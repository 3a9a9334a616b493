//! `isobench-vmm`: boots one VM and reports its phases and boot-timer stamp to the harness.
//!
//! `main` is the C entry point glibc calls (`no_main`), not Rust's: the standard runtime's
//! start-up before `fn main` — checking that fds 0–2 are open, the main thread's stack guard
//! (glibc reads and parses /proc/self/maps for it), an alternate signal stack and SIGSEGV/SIGBUS
//! handlers that print "stack overflow" — is 18 of the VMM's 37 start-up syscalls and sat on
//! every launch's path (A/B over 200 launches each: `vmm-exec` 609 → 562 µs cold, 691 → 642 µs
//! restored). What the VMM needs of it is kept: SIGPIPE ignored, so that a write to a vanished
//! harness fails instead of killing the VM. The arguments are read from `main`'s own argv
//! (musl, unlike glibc, hands them to std only through Rust's entry point, so
//! `std::env::args()` would be empty there); a stack overflow is a plain SIGSEGV.
#![no_main]
use isobench_protocol::{VmmEvent, VmmPhase};
use isobench_vmm::config::{self, Command};
use isobench_vmm::report::Reporter;
use isobench_vmm::{restore, vm};

/// Exit status: the VM ran and ended as its guest asked.
const EXIT_OK: u8 = 0;
/// Exit status: the VM failed (the reason is on stderr and the report pipe).
const EXIT_FAILED: u8 = 1;
/// Exit status: bad command line or report descriptor.
const EXIT_USAGE: u8 = 2;

#[no_mangle]
extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    let start_ns = isobench_vmm::report::monotonic_ns();
    // SAFETY: changes only SIGPIPE's disposition, before any other thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let args = (1..usize::try_from(argc).unwrap_or(0)).map(|i| {
        // SAFETY: the C runtime passes argc valid NUL-terminated strings in argv.
        let arg = unsafe { std::ffi::CStr::from_ptr(*argv.add(i)) };
        arg.to_string_lossy().into_owned()
    });
    libc::c_int::from(run(start_ns, args))
}

fn run(start_ns: u64, args: impl Iterator<Item = String>) -> u8 {
    let mut report = Reporter::default();
    let command = match config::parse(args) {
        Ok(Command::Help) => {
            println!("{}", config::USAGE);
            return EXIT_OK;
        }
        Ok(command) => command,
        Err(error) => {
            eprintln!("isobench-vmm: {error}");
            return EXIT_USAGE;
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
                return EXIT_USAGE;
            }
        };
    }
    report.hold();
    report.phase_at(VmmPhase::VmmExec, start_ns);
    let outcome = match &command {
        Command::Run(config) => vm::run(config, &mut report),
        Command::Restore(restore) => restore::run(restore, &mut report),
        Command::Help => return EXIT_OK,
    };
    match outcome {
        // `vm::run` wrote the `exit <reason>` line before tearing the VM down.
        Ok(_) => EXIT_OK,
        Err(error) => {
            report.event(&VmmEvent::Error {
                message: error.to_string(),
            });
            eprintln!("isobench-vmm: {error}");
            EXIT_FAILED
        }
    }
}
