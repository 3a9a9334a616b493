//! Firecracker without its API socket (`--no-api --config-file`), booting the guest ELF with
//! one vCPU; it exits 0 when the guest resets through the i8042.
use std::path::Path;

use super::instance::GuestExit;
use super::profile::{VmmIsolator, VmmProfile};
use crate::external::engine::EngineSpec;
use crate::microvm::guest::GuestImage;
use crate::options::IsolatorOptions;
use crate::Error;

/// Firecracker, configured by a file written at prepare time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Firecracker;

pub type FirecrackerIsolator = VmmIsolator<Firecracker>;

/// The bare-guest row, `firecracker`.
pub fn firecracker(options: &IsolatorOptions) -> FirecrackerIsolator {
    VmmIsolator::new(Firecracker, options)
}

/// The Linux-guest row, `firecracker-linux`: the vmlinux (PVH ELF) of the same kernel.
pub fn firecracker_linux(options: &IsolatorOptions) -> FirecrackerIsolator {
    VmmIsolator::linux(Firecracker, options)
}

/// The config file's name in the scratch dir.
const CONFIG_FILE: &str = "firecracker.json";

/// Firecracker's `--config-file` for one VM.
pub fn firecracker_config(guest: &GuestImage) -> serde_json::Value {
    let mut boot_source = serde_json::json!({
        "kernel_image_path": guest.kernel,
        "boot_args": guest.cmdline,
    });
    if let Some(initrd) = &guest.initrd {
        boot_source["initrd_path"] = serde_json::json!(initrd);
    }
    serde_json::json!({
        "boot-source": boot_source,
        "drives": [],
        "machine-config": {
            "vcpu_count": 1,
            "mem_size_mib": guest.mem_mib,
            "smt": false,
        },
    })
}

impl VmmProfile for Firecracker {
    fn engine(&self) -> EngineSpec {
        EngineSpec {
            name: "firecracker",
            program: "firecracker",
            install_hint: "download a release binary (github.com/firecracker-microvm/firecracker/releases) and put it on PATH",
            version_marker: "firecracker v",
        }
    }
    fn label(&self) -> &'static str {
        "Firecracker"
    }
    fn notes(&self) -> Vec<String> {
        vec!["--no-api --config-file".into()]
    }
    fn exit(&self) -> GuestExit {
        GuestExit::ExitsOnReset
    }
    fn write_config(&self, guest: &GuestImage, scratch: &Path) -> Result<(), Error> {
        let config = scratch.join(CONFIG_FILE);
        let text = serde_json::to_string_pretty(&firecracker_config(guest))
            .map_err(|e| Error::Engine(format!("firecracker config: {e}")))?;
        std::fs::write(&config, text)
            .map_err(|e| Error::io(format!("cannot write {}", config.display()), e))
    }
    fn args(&self, _guest: &GuestImage, scratch: &Path) -> Vec<String> {
        vec![
            "--no-api".into(),
            "--config-file".into(),
            scratch.join(CONFIG_FILE).to_string_lossy().into_owned(),
            "--level".into(),
            "Error".into(),
        ]
    }
}
