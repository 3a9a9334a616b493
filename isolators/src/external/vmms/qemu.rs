//! QEMU's `-M microvm` machine: no firmware, no PCI, a 16550 on stdio, `isa-debug-exit` at
//! 0xf4 so the guest ends QEMU with exit status 1.
use std::path::Path;

use super::instance::GuestExit;
use super::profile::{GuestImage, VmmIsolator, VmmProfile};
use crate::external::engine::EngineSpec;
use crate::options::IsolatorOptions;
use isobench_protocol::EXIT_PORT;

/// `qemu-system-x86_64 -M microvm` with KVM.
#[derive(Debug, Clone, Copy, Default)]
pub struct QemuMicrovm;

pub type QemuMicrovmIsolator = VmmIsolator<QemuMicrovm>;

pub fn qemu_microvm(options: &IsolatorOptions) -> QemuMicrovmIsolator {
    VmmIsolator::new(QemuMicrovm, options)
}

impl VmmProfile for QemuMicrovm {
    fn engine(&self) -> EngineSpec {
        EngineSpec {
            name: "qemu-microvm",
            program: "qemu-system-x86_64",
            install_hint: "apt-get install qemu-system-x86",
            version_marker: "qemu emulator version",
        }
    }
    fn label(&self) -> &'static str {
        "qemu -M microvm"
    }
    fn notes(&self) -> Vec<String> {
        vec!["-cpu host,-arch-capabilities; guest is isobench's bare PVH ELF, not Linux".into()]
    }
    fn exit(&self) -> GuestExit {
        GuestExit::DebugExitPort
    }
    fn args(&self, guest: &GuestImage, _scratch: &Path) -> Vec<String> {
        qemu_args(&guest.kernel, guest.mem_mib)
    }
}

/// The QEMU arguments for one bare-guest VM.
pub fn qemu_args(elf: &Path, mem_mib: u32) -> Vec<String> {
    [
        "-M",
        "microvm,x-option-roms=off,isa-serial=on,rtc=off",
        // arch-capabilities is not offered by every KVM (software KVM refuses it).
        "-cpu",
        "host,-arch-capabilities",
        "-enable-kvm",
        "-m",
        &mem_mib.to_string(),
        "-smp",
        "1",
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-serial",
        "stdio",
        "-device",
        &format!("isa-debug-exit,iobase={EXIT_PORT:#x},iosize=0x04"),
        "-kernel",
        &elf.to_string_lossy(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}
