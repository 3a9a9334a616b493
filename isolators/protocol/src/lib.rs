//! `isobench-protocol`: the vocabulary shared by the probe, the VMM, the isolators and the
//! reports — everything that crosses a process or crate boundary, defined once.
//!
//! - [`workload`]: the probe's workload grammar (`noop`, `touch:16`, …), parsed and printed here only.
//! - [`vmm_events`]: the lines `isobench-vmm` writes on its report pipe, and its exit reasons.
//! - [`kvm_access`]: what to advise a user who may not open /dev/kvm (the VMM and `list` say it).
//! - [`user_command`]: the user's command and readiness check (`exec` mode) and its spec file.
//! - [`measure`]: the isolator's kind, kernel and guest, and its memory and disk measurements.
//! - The constants below: the boot-timer port and values, the exit port, the ready marker.
#![forbid(unsafe_code)]

pub mod guest_image;
pub mod kvm_access;
pub mod measure;
pub mod user_command;
pub mod vmm_events;
pub mod workload;

pub use measure::{DiskFootprint, GuestKind, KernelKind, Kind, MemoryUsage};
pub use user_command::{ReadyCheck, UserCommand, UserCommandError};
pub use vmm_events::{ExitReason, VmmEvent, VmmPhase};
pub use workload::{Mode, Workload, WorkloadError};

/// The boot-timer port (Firecracker's convention): the guest writes a value, the VMM stamps
/// CLOCK_MONOTONIC at that exit.
pub const BOOT_TIMER_PORT: u16 = 0x3f0;
/// Written to [`BOOT_TIMER_PORT`] when the guest is ready.
pub const BOOT_TIMER_READY: u8 = 123;
/// Written to [`BOOT_TIMER_PORT`] just before the guest's timed work begins.
pub const BOOT_TIMER_WORK_BEGIN: u8 = 124;
/// Written to [`BOOT_TIMER_PORT`] just after the guest's timed work ends.
pub const BOOT_TIMER_WORK_END: u8 = 125;
/// Any write here ends the VM (isobench-vmm's exit device, QEMU's `isa-debug-exit`).
pub const EXIT_PORT: u16 = 0xf4;
/// The first word of the probe's ready line, on a pipe, stdout or a serial console.
pub const READY_MARKER: &str = "ISOBENCH-READY";
/// Ready-line key: the guest's CLOCK_BOOTTIME when the probe started as /init (Linux guests):
/// the kernel's own boot time.
pub const INIT_BOOTTIME_KEY: &str = "init_boottime_ns";
/// Ready-line key: the guest's CLOCK_BOOTTIME when the probe signalled ready.
pub const READY_BOOTTIME_KEY: &str = "ready_boottime_ns";
/// The phase a Linux guest's probe started as /init, derived from the two keys above.
pub const INIT_PHASE: &str = "init";
/// The phase a Linux guest's kernel clock began (ready minus the guest's clock at ready).
pub const KERNEL_START_PHASE: &str = "kernel-start";

/// Kernel command-line word (init's environment) that tells a Linux guest's probe how to end
/// the VM; unset means a reset through the i8042 (`reboot=k`).
pub const GUEST_EXIT_ENV: &str = "ISOBENCH_EXIT";
/// [`GUEST_EXIT_ENV`]'s value for an ACPI power-off, for VMMs that reboot on a reset.
pub const GUEST_EXIT_POWER_OFF: &str = "poweroff";

/// Guest RAM when `--vm-mem` is not given, MiB.
pub const DEFAULT_GUEST_MEM_MIB: u32 = 128;

/// The most guest RAM `isobench-vmm` maps (`--mem-mib`), MiB.
pub const MAX_GUEST_MEM_MIB: u32 = 65536;

/// The `key=value` words of a probe ready line (`ISOBENCH-READY mode=noop work_ns=12`).
pub fn ready_report_pairs(line: &str) -> impl Iterator<Item = (&str, &str)> {
    line.split_whitespace()
        .filter_map(|word| word.split_once('='))
}
