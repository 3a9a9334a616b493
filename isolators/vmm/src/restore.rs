//! One VM restored from a snapshot (`--restore DIR`): check the state file, map the memory
//! file copy-on-write as guest RAM, recreate the VM with the snapshot's chips, clock, vCPU and
//! serial state, and resume the guest where it was snapshotted (just after its ready signal).
use std::io::Read;
use std::os::fd::FromRawFd;

use kvm_bindings::KVM_MP_STATE_RUNNABLE;
use vm_memory::{GuestMemoryBackend, GuestMemoryRegion};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

use crate::config::RestoreConfig;
use crate::devices::ioapic::{self, RoutedIoapic};
use crate::devices::serial;
use crate::error::{Error, Result};
use crate::layout::TSS_ADDRESS;
use crate::report::Reporter;
use crate::snapshot::state::Chips;
use crate::snapshot::{self, memory_file};
use crate::vm::{create_chips, open_kvm, run_vcpu_on, Devices, ReadyAt};
use isobench_protocol::{ExitReason, VmmEvent, VmmPhase};

fn kvm_error(what: &'static str) -> impl Fn(kvm_ioctls::Error) -> Error {
    move |source| Error::Kvm { what, source }
}

/// `--start-fd`: blocks until one byte arrives on `fd` (then closes it). The VMM was started
/// ahead; nothing of the restore is done before this returns.
fn wait_for_start(fd: i32) -> Result<()> {
    // SAFETY: F_GETFD only reads the descriptor's flags; any integer is safe to ask about.
    if fd < 0 || unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
        return Err(Error::Usage(format!(
            "--start-fd {fd}: not an open descriptor — pass a pipe the VMM inherits"
        )));
    }
    // SAFETY: the descriptor is open (checked above) and was passed to us for this alone;
    // nothing else in this process owns it.
    let mut start = unsafe { std::fs::File::from_raw_fd(fd) };
    let mut byte = [0u8; 1];
    loop {
        match start.read(&mut byte) {
            Ok(0) => return Err(Error::NotStarted { fd }),
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(Error::Host {
                    what: "read the start byte",
                    source,
                })
            }
        }
    }
}

/// Restores the snapshot in `config.dir` and runs the guest until it ends the VM.
///
/// Phases: with `--start-fd`, `restore-start` (the start byte arrived: nothing before it
/// touched the snapshot or KVM), then `snapshot-map` (state file checked, memory file mapped
/// and registered with a new VM), `restore-state` (chips, clock, vCPU and UART hold the
/// snapshot's state), `resume` (just before `KVM_RUN`), then `ready` at the guest's first port
/// or MMIO access.
pub fn run(config: &RestoreConfig, report: &mut Reporter) -> Result<ExitReason> {
    if let Some(fd) = config.start_fd {
        // The caller waits for our `vmm-exec` line before it sends the start byte.
        report.release();
        report.hold();
        wait_for_start(fd)?;
        report.phase(VmmPhase::RestoreStart);
    }
    // Bad snapshots are refused before /dev/kvm is opened, the same on every host.
    let snapshot = snapshot::load(&config.dir, config.mem_mib)?;
    let ram = memory_file::map(&snapshot.memory_path, snapshot.header.mem_bytes)?;
    let memory = &ram.memory;
    let kvm = open_kvm()?;
    let vm = kvm.create_vm().map_err(kvm_error("create VM"))?;
    vm.set_tss_address(TSS_ADDRESS)
        .map_err(kvm_error("set TSS address"))?;
    crate::memory::register(&vm, memory)?;
    for region in memory.iter() {
        report.event(&VmmEvent::GuestRam {
            start: region.as_ptr() as u64,
            len: region.len(),
        });
    }
    report.phase(VmmPhase::SnapshotMap);

    let state = &snapshot.state;
    match &state.chips {
        Chips::InKernel { pit, .. } => create_chips(&vm, pit.is_some())?,
        Chips::Split { .. } => ioapic::enable_split_irqchip(&vm)?,
    }
    state.apply_to_vm(&vm)?;
    let mut vcpu = vm.create_vcpu(0).map_err(kvm_error("create vCPU"))?;
    state.apply_to_vcpu(&vcpu)?;
    let irq = EventFd::new(EFD_NONBLOCK).map_err(|source| Error::Host {
        what: "serial interrupt eventfd",
        source,
    })?;
    // Routed, then registered, before the UART is built: restoring its state may raise its
    // interrupt.
    let mut split_ioapic = match &state.chips {
        Chips::Split { ioapic } => Some(RoutedIoapic::restore(&vm, ioapic.clone())?),
        Chips::InKernel { .. } => None,
    };
    vm.register_irqfd(&irq, serial::IRQ)
        .map_err(kvm_error("register the serial irqfd"))?;
    let irq_for_uart = irq.try_clone().map_err(|source| Error::Host {
        what: "serial interrupt eventfd",
        source,
    })?;
    let uart =
        serial::Uart::from_state(irq_for_uart, &state.serial).map_err(|source| Error::Host {
            what: "restore the serial port",
            source,
        })?;
    report.phase(VmmPhase::RestoreState);

    if config.verify_memory {
        let found = memory_file::checksum(memory)?;
        report.event(&VmmEvent::MemoryChecksum { crc32: found });
        if found != snapshot.header.memory_crc32 {
            return Err(Error::SnapshotMemoryChanged {
                path: snapshot.memory_path.clone(),
                expected: snapshot.header.memory_crc32,
                found,
            });
        }
    }
    if state.mp_state.mp_state != KVM_MP_STATE_RUNNABLE {
        // A guest snapshotted in `hlt` would sit there without a sign of life; ours never is.
        return Err(Error::SnapshotState(format!(
            "the vCPU was not runnable (MP state {}) when the snapshot was taken",
            state.mp_state.mp_state
        )));
    }
    report.phase(VmmPhase::Resume);
    let devices = Devices {
        uart: &uart,
        ioapic: split_ioapic.as_mut(),
    };
    let reason = run_vcpu_on(&mut vcpu, memory, devices, report, ReadyAt::FirstGuestExit)?;
    report.event(&VmmEvent::Exit { reason });
    match state.chips {
        Chips::Split { .. } => crate::teardown::end_split_irqchip_vm(vm, vcpu),
        Chips::InKernel { .. } => crate::teardown::end_vm(vm, vcpu, memory),
    }
    drop(irq);
    Ok(reason)
}
