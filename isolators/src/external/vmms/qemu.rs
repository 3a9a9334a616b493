//! QEMU's `-M microvm` machine: no firmware, no PCI, a 16550 on stdio, `isa-debug-exit` at
//! 0xf4 so the guest ends QEMU with exit status 1. One profile, [`Qemu`], on KVM (bare
//! and Linux guests) and with TCG: the same Linux guest with every instruction emulated by
//! TCG — a real VM (own kernel, own devices) on any host QEMU runs on, flagged as emulated.
use std::path::Path;
use std::process::Command;

use super::instance::GuestExit;
use super::profile::{VmmIsolator, VmmProfile};
use crate::external::engine::{Engine, EngineSpec};
use crate::microvm::guest::GuestImage;
use crate::options::IsolatorOptions;
use isobench_protocol::EXIT_PORT;

/// How QEMU runs guest code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

/// `qemu-system-x86_64 -M microvm`, with KVM or with TCG emulation.
#[derive(Debug, Clone, Copy)]
pub struct Qemu {
    pub accel: Accel,
}

pub type QemuIsolator = VmmIsolator<Qemu>;

/// The bare-guest row on KVM, `qemu-microvm`.
pub fn qemu_microvm(options: &IsolatorOptions) -> QemuIsolator {
    VmmIsolator::new(Qemu { accel: Accel::Kvm }, options)
}

/// The Linux-guest row on KVM, `qemu-microvm-linux`.
pub fn qemu_microvm_linux(options: &IsolatorOptions) -> QemuIsolator {
    VmmIsolator::linux(Qemu { accel: Accel::Kvm }, options)
}

/// The emulated Linux-guest row, `qemu-tcg`.
pub fn qemu_tcg(options: &IsolatorOptions) -> QemuIsolator {
    VmmIsolator::linux(Qemu { accel: Accel::Tcg }, options)
}

impl VmmProfile for Qemu {
    fn engine(&self) -> EngineSpec {
        EngineSpec {
            name: match self.accel {
                Accel::Kvm => "qemu-microvm",
                Accel::Tcg => "qemu-tcg",
            },
            program: "qemu-system-x86_64",
            install_hint: "apt-get install qemu-system-x86",
            version_marker: "qemu emulator version",
        }
    }
    fn label(&self) -> &'static str {
        match self.accel {
            Accel::Kvm => "qemu -M microvm",
            Accel::Tcg => "qemu -M microvm -accel tcg",
        }
    }
    fn notes(&self) -> Vec<String> {
        match self.accel {
            Accel::Kvm => vec!["-cpu host,-arch-capabilities (software KVM refuses arch-capabilities)".into()],
            Accel::Tcg => vec![
                "tsc_early_khz=<host TSC> on the kernel command line: the guest's PIT calibration of the TSC fails under emulation when the host is busy, and the boot then hangs".into(),
            ],
        }
    }
    fn exit(&self) -> GuestExit {
        GuestExit::DebugExitPort
    }
    fn emulated(&self) -> bool {
        self.accel == Accel::Tcg
    }
    fn host_problem(&self, engine: &Engine) -> Option<String> {
        let accel = match self.accel {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        };
        missing_machine_or_accel(engine, accel)
    }
    fn extra_cmdline(&self) -> Option<String> {
        // Under TCG the guest's TSC is the host's (QEMU reads the host's counter).
        (self.accel == Accel::Tcg).then(|| format!("tsc_early_khz={}", host_tsc_khz()))
    }
    fn args(&self, guest: &GuestImage, _scratch: &Path) -> Vec<String> {
        qemu_args(guest, self.accel)
    }
}

/// The QEMU arguments for one VM booting `guest`.
pub fn qemu_args(guest: &GuestImage, accel: Accel) -> Vec<String> {
    let (accel, cpu) = match accel {
        // arch-capabilities is not offered by every KVM (software KVM refuses it).
        Accel::Kvm => ("kvm", "host,-arch-capabilities"),
        Accel::Tcg => ("tcg", "max"),
    };
    let mut args: Vec<String> = [
        "-M",
        "microvm,x-option-roms=off,isa-serial=on,rtc=off",
        "-accel",
        accel,
        "-cpu",
        cpu,
        "-m",
        &guest.mem_mib.to_string(),
        "-smp",
        "1",
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-serial",
        "stdio",
        // A guest that panics or resets ends QEMU (the VM ended before ready: its console says
        // why) instead of booting again and again until the harness's timeout.
        "-no-reboot",
        "-device",
        &format!("isa-debug-exit,iobase={EXIT_PORT:#x},iosize=0x04"),
        "-kernel",
        &guest.kernel.to_string_lossy(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Some(initrd) = &guest.initrd {
        args.extend(["-initrd".into(), initrd.to_string_lossy().into_owned()]);
    }
    if !guest.cmdline.is_empty() {
        args.extend(["-append".into(), guest.cmdline.clone()]);
    }
    args
}

/// Why this QEMU cannot run `-M microvm` with `accel`, if it cannot (asked once per call).
fn missing_machine_or_accel(engine: &Engine, accel: &str) -> Option<String> {
    let qemu = engine.path().ok()?;
    let ask = |what: &str| {
        Command::new(&qemu)
            .args([what, "help"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    let has_word = |text: &str, word: &str| {
        text.lines()
            .any(|line| line.split_whitespace().next() == Some(word))
    };
    if !has_word(&ask("-machine"), "microvm") {
        return Some(format!(
            "{} has no microvm machine — install a QEMU built with it (Debian's qemu-system-x86)",
            qemu.display()
        ));
    }
    if !has_word(&ask("-accel"), accel) {
        return Some(format!(
            "{} was built without the {accel} accelerator — install Debian's qemu-system-x86",
            qemu.display()
        ));
    }
    None
}

/// The host's TSC rate in kHz, measured against CLOCK_MONOTONIC over 50 ms (to 0.01%).
fn host_tsc_khz() -> u64 {
    let tsc = || {
        // SAFETY: RDTSC reads the time-stamp counter; it has no memory effects and every
        // x86-64 CPU has it.
        unsafe { core::arch::x86_64::_rdtsc() }
    };
    let (tsc_start, clock_start) = (tsc(), std::time::Instant::now());
    std::thread::sleep(std::time::Duration::from_millis(50));
    let (ticks, elapsed) = (tsc() - tsc_start, clock_start.elapsed());
    (ticks as f64 / elapsed.as_secs_f64() / 1000.0).round() as u64
}
