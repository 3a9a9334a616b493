//! `isobench-probe`: the one static workload every isolator runs: do the work, signal ready, hold, exit.
//!
//! Configuration comes from argv (`--mode`, `--channel`) or, where argv cannot be set (a Linux
//! guest's /init gets kernel command-line `key=value` words as environment), from
//! `ISOBENCH_MODE` and `ISOBENCH_CHANNEL`. Argv wins.
//!
//! Channels:
//! - `fd:R,W`: write the ready line to fd W, then hold until fd R reads EOF or a byte.
//! - `stdio`: print the ready line on stdout, then hold until stdin gives a line or EOF.
//! - `vm`: as guest /init: stamp the boot timer (port 0x3f0), print the ready line on the
//!   console, hold until the console gives a line, then power off through port 0xf4 and reboot.
//!
//! Mode `exec` supervises the user's command (see [`supervise`]); its spec file comes from
//! `--spec PATH`, else `ISOBENCH_SPEC`, else `/isobench-workload`. Exit statuses: 1 channel
//! failed, 2 bad command line, 3 the workload could not run (spec, command not startable),
//! 4 the command ended before ready, 5 its readiness check timed out.
// No Rust runtime start-up: std's `lang_start` asks glibc for the main thread's stack bounds,
// which parses /proc/self/maps (~0.3 ms on every launch, in every isolator). std still works;
// the arguments are read from `main`'s own argv (musl, which the probe is built with where
// installed, hands them to std only through `lang_start`), the environment from `environ`.
// Under `cargo test` the test harness supplies main, so the unit tests run.
#![cfg_attr(not(test), no_main)]
#![cfg_attr(test, allow(dead_code))]

mod channel;
mod supervise;
mod workload;

/// Exit status for a bad command line.
const EXIT_USAGE: i32 = 2;
/// Exit status when the channel to the harness failed.
const EXIT_CHANNEL: i32 = 1;
/// Exit status when the workload could not run (no ready line is sent).
const EXIT_WORKLOAD: i32 = 3;

#[cfg(not(test))]
#[no_mangle]
extern "C" fn main(argc: i32, argv: *const *const std::ffi::c_char) -> i32 {
    // As a guest's /init: the kernel's own boot time, before anything of ours runs.
    let init_boottime_ns = channel::boottime_ns();
    let args = (1..usize::try_from(argc).unwrap_or(0)).map(|i| {
        // SAFETY: the C runtime passes argc valid NUL-terminated strings in argv.
        let arg = unsafe { std::ffi::CStr::from_ptr(*argv.add(i)) };
        arg.to_string_lossy().into_owned()
    });
    let config = match Config::from_args_and_env(args) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("isobench-probe: {message}");
            return EXIT_USAGE;
        }
    };
    let delay_us = config.workload.startup_delay_us;
    if delay_us > 0 {
        // Test-only (`isobench run --inject-startup-delay-us`): a real, deliberate slowdown.
        std::thread::sleep(std::time::Duration::from_micros(delay_us));
    }
    if config.workload.mode == isobench_protocol::Mode::Exec {
        return supervise::run(&config.channel, config.spec.as_deref(), init_boottime_ns);
    }
    let outcome = match workload::run(&config.workload.mode) {
        Ok(outcome) => outcome,
        Err(message) => {
            eprintln!("isobench-probe: {message}");
            return EXIT_WORKLOAD;
        }
    };
    let line = ready_line(&outcome.report(), &config.channel, init_boottime_ns);
    if let Err(error) = channel::signal_ready_and_hold(&config.channel, &line) {
        eprintln!("isobench-probe: {error}");
        return EXIT_CHANNEL;
    }
    drop(outcome);
    channel::exit(&config.channel)
}

/// The ready line: the marker, the workload's report and, in a VM, the guest's clock.
fn ready_line(report: &str, channel: &channel::Channel, init_boottime_ns: u64) -> String {
    let mut line = format!("{} {report}", isobench_protocol::READY_MARKER);
    if *channel == channel::Channel::Vm {
        // The guest's clock since its kernel started, at /init and now: the host turns the
        // difference into the phase /init → ready, and the first into the kernel's boot time.
        let ready_boottime_ns = channel::boottime_ns();
        line.push_str(&format!(
            " {}={init_boottime_ns} {}={ready_boottime_ns}",
            isobench_protocol::INIT_BOOTTIME_KEY,
            isobench_protocol::READY_BOOTTIME_KEY
        ));
    }
    line.push('\n');
    line
}

/// What the probe was asked to do and how it talks to the harness.
struct Config {
    /// The mode, and from a `,delay_us=N` suffix the time to sleep before it.
    workload: isobench_protocol::Workload,
    channel: channel::Channel,
    /// `exec` mode's spec file (`--spec`, `ISOBENCH_SPEC`); None: `/isobench-workload`.
    spec: Option<String>,
}

impl Config {
    /// `args`: argv without the program name.
    fn from_args_and_env(args: impl Iterator<Item = String>) -> Result<Config, String> {
        let mut mode = std::env::var("ISOBENCH_MODE").ok();
        let mut channel = std::env::var("ISOBENCH_CHANNEL").ok();
        let mut spec = std::env::var("ISOBENCH_SPEC").ok();
        let mut args = args;
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--mode" => mode = Some(args.next().ok_or("--mode needs a value")?),
                "--channel" => channel = Some(args.next().ok_or("--channel needs a value")?),
                "--spec" => spec = Some(args.next().ok_or("--spec needs a path")?),
                "--help" | "-h" => {
                    return Err("usage: isobench-probe [--mode noop|touch:MiB|cpu:M|syscall:N|mem:MiB|io:KiB|exec] [--channel fd:R,W|stdio|vm] [--spec PATH]".into())
                }
                // The kernel passes bare command-line words to init's argv; ignore them.
                _ if std::process::id() == 1 => {}
                other => return Err(format!("unknown argument {other:?}; try --help")),
            }
        }
        let default_channel = if std::process::id() == 1 {
            "vm"
        } else {
            "stdio"
        };
        Ok(Config {
            workload: workload::parse(mode.as_deref().unwrap_or("noop"))?,
            channel: channel::Channel::parse(channel.as_deref().unwrap_or(default_channel))?,
            spec,
        })
    }
}
