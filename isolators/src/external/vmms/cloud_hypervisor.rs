//! Cloud Hypervisor booting the guest ELF with its serial port on a terminal; it reboots the
//! guest on reset, so the VMM is stopped with SIGTERM when the guest's ready line comes twice.
use std::path::Path;

use super::instance::GuestExit;
use super::profile::{Console, VmmIsolator, VmmProfile};
use crate::external::engine::EngineSpec;
use crate::microvm::guest::GuestImage;
use crate::options::IsolatorOptions;

/// Cloud Hypervisor, configured on its command line.
#[derive(Debug, Clone, Copy, Default)]
pub struct CloudHypervisor;

pub type CloudHypervisorIsolator = VmmIsolator<CloudHypervisor>;

/// The bare-guest row, `cloud-hypervisor`.
pub fn cloud_hypervisor(options: &IsolatorOptions) -> CloudHypervisorIsolator {
    VmmIsolator::new(CloudHypervisor, options)
}

/// The Linux-guest row, `cloud-hypervisor-linux`: the vmlinux (PVH ELF) of the same kernel.
pub fn cloud_hypervisor_linux(options: &IsolatorOptions) -> CloudHypervisorIsolator {
    VmmIsolator::linux(CloudHypervisor, options)
}

/// Cloud Hypervisor's arguments for one VM.
pub fn cloud_hypervisor_args(guest: &GuestImage) -> Vec<String> {
    let mut args = vec![
        "--kernel".into(),
        guest.kernel.to_string_lossy().into_owned(),
        "--cpus".into(),
        "boot=1".into(),
        "--memory".into(),
        format!("size={}M", guest.mem_mib),
        "--serial".into(),
        "tty".into(),
        "--console".into(),
        "off".into(),
    ];
    if let Some(initrd) = &guest.initrd {
        args.extend(["--initramfs".into(), initrd.to_string_lossy().into_owned()]);
    }
    if !guest.cmdline.is_empty() {
        args.extend(["--cmdline".into(), guest.cmdline.clone()]);
    }
    args
}

impl VmmProfile for CloudHypervisor {
    fn engine(&self) -> EngineSpec {
        EngineSpec {
            name: "cloud-hypervisor",
            program: "cloud-hypervisor",
            install_hint: "download a release binary (github.com/cloud-hypervisor/cloud-hypervisor/releases) and put it on PATH",
            version_marker: "cloud-hypervisor v",
        }
    }
    fn label(&self) -> &'static str {
        "Cloud Hypervisor"
    }
    fn notes(&self) -> Vec<String> {
        vec!["it reboots on a reset: the bare guest's VMM is stopped with SIGTERM when it resets, the Linux guest powers off through ACPI instead".into()]
    }
    fn exit(&self) -> GuestExit {
        GuestExit::RebootsOnReset
    }
    fn linux_exit(&self) -> GuestExit {
        // The Linux guest powers off through ACPI, and Cloud Hypervisor then exits 0.
        GuestExit::ExitsOnReset
    }
    fn extra_cmdline(&self) -> Option<String> {
        Some(format!(
            "{}={}",
            isobench_protocol::GUEST_EXIT_ENV,
            isobench_protocol::GUEST_EXIT_POWER_OFF
        ))
    }
    fn console(&self) -> Console {
        Console::Terminal
    }
    fn args(&self, guest: &GuestImage, _scratch: &Path) -> Vec<String> {
        cloud_hypervisor_args(guest)
    }
}
