//! One VM from start to end: KVM set-up, guest memory, boot, devices, and the vCPU loop.
use std::sync::Arc;

use kvm_bindings::{kvm_pit_config, KVM_PIT_SPEAKER_DUMMY};
use kvm_ioctls::{Kvm, VcpuExit, VcpuFd, VmFd};
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

use crate::boot;
use crate::config::VmConfig;
use crate::devices::ioapic::{self, Ioapic, RoutedIoapic};
use crate::devices::{i8042, serial};
use crate::error::{software_kvm_hint, Error, Result};
use crate::layout::TSS_ADDRESS;
use crate::report::{monotonic_ns, Reporter};
use crate::snapshot::state::ChipsOf;
use isobench_protocol::{
    ExitReason, VmmEvent, VmmPhase, BOOT_TIMER_PORT, BOOT_TIMER_READY, BOOT_TIMER_WORK_BEGIN,
    BOOT_TIMER_WORK_END, EXIT_PORT,
};

/// Stack for the helper thread that sets the VM up: it only makes a few ioctls.
const HELPER_STACK_BYTES: usize = 64 * 1024;

fn kvm_error(what: &'static str) -> impl Fn(kvm_ioctls::Error) -> Error {
    move |source| Error::Kvm { what, source }
}

/// Opens /dev/kvm; a missing device or a permission problem is one line saying what to do.
pub(crate) fn open_kvm() -> Result<Kvm> {
    Kvm::new().map_err(|e| match e.errno() {
        libc::ENOENT => Error::NoKvm,
        libc::EACCES | libc::EPERM => Error::KvmPermission {
            advice: isobench_protocol::kvm_access::permission_advice(std::path::Path::new(
                "/dev/kvm",
            )),
        },
        _ => Error::Kvm {
            what: "open /dev/kvm",
            source: e,
        },
    })
}

/// Boots the VM described by `config` and runs it until the guest ends it.
pub fn run(config: &VmConfig, report: &mut Reporter) -> Result<ExitReason> {
    // Bad files are reported the same on every host, before /dev/kvm is even opened.
    let files = boot::image::open(config)?;
    let huge_pages = config.huge_pages.enabled(files.kernel.len_bytes);
    let kvm = open_kvm()?;
    // Guest RAM is mapped before the VM exists, so the kernel, initrd and boot structures are
    // written into it (tens of milliseconds for a Linux kernel) while a short-lived helper
    // thread creates the VM, its chips and its memory slots, which wait on KVM-internal grace
    // periods and kernel threads. The `kernel-load` stamp is when both are done.
    let ram = crate::memory::map(config.mem_bytes(), huge_pages)?;
    let memory = &ram.memory;
    let (setup, loaded) = std::thread::scope(|scope| {
        let setup = std::thread::Builder::new()
            .stack_size(HELPER_STACK_BYTES)
            .spawn_scoped(scope, || set_up_vm(&kvm, memory, config));
        let loaded = boot::load(config, files, memory).map(|entry| (entry, monotonic_ns()));
        let setup = match setup {
            Ok(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(Error::Boot("the VM set-up thread panicked".into()))),
            // No thread to spare: set the VM up here, after the loading.
            Err(_) => set_up_vm(&kvm, memory, config),
        };
        (setup, loaded)
    });
    let VmSetUp {
        vm,
        chips_ns,
        memory_ns,
    } = setup?;
    let (entry, loaded_ns) = loaded?;
    report.phase_at(VmmPhase::KvmCreate, chips_ns);
    for region in memory.iter() {
        report.event(&VmmEvent::GuestRam {
            start: region.as_ptr() as u64,
            len: region.len(),
        });
    }
    // Each stamp is when its step and every step before it in the report are done.
    let memory_ns = memory_ns.max(chips_ns);
    report.phase_at(VmmPhase::Memory, memory_ns);
    report.phase_at(VmmPhase::KernelLoad, loaded_ns.max(memory_ns));

    let mut vcpu = vm.create_vcpu(0).map_err(kvm_error("create vCPU"))?;
    crate::cpu::setup(&kvm, &vcpu, memory, entry)?;
    let irq = EventFd::new(EFD_NONBLOCK).map_err(|source| Error::Host {
        what: "serial interrupt eventfd",
        source,
    })?;
    vm.register_irqfd(&irq, serial::IRQ)
        .map_err(kvm_error("register the serial irqfd"))?;
    let uart = serial::Uart::new(irq);
    let mut take_snapshot = |vcpu: &mut VcpuFd, split: Option<&Ioapic>| {
        let Some(dir) = &config.snapshot_to else {
            return Ok(None);
        };
        let chips = match split {
            Some(ioapic) => ChipsOf::Split(ioapic),
            None => ChipsOf::InKernel { pit: config.pit },
        };
        crate::snapshot::take(&kvm, &vm, vcpu, memory, &uart, chips, dir).map(Some)
    };
    let mut ioapic = config.split_irqchip.then(|| RoutedIoapic::new(&vm));
    report.phase(VmmPhase::FirstRun);
    let ready_at = ReadyAt::BootTimer {
        snapshot: &mut take_snapshot,
    };
    let devices = Devices {
        uart: &uart,
        ioapic: ioapic.as_mut(),
    };
    let reason = run_vcpu_on(&mut vcpu, memory, devices, report, ready_at)?;
    // Said before the VM is torn down: the guest has ended, and destroying the VM (the
    // kernel's work when the fds close, milliseconds) is teardown, not guest run time.
    report.event(&VmmEvent::Exit { reason });
    match config.split_irqchip {
        true => crate::teardown::end_split_irqchip_vm(vm, vcpu),
        false => crate::teardown::end_vm(vm, vcpu, memory),
    }
    Ok(reason)
}

/// The VM with its chips and guest RAM registered, and when each was done.
struct VmSetUp {
    vm: VmFd,
    chips_ns: u64,
    memory_ns: u64,
}

/// `KVM_CREATE_VM`, the TSS, guest RAM's slots, then the chips. In the other order,
/// registering memory right after the chips took about 7 ms on the software-KVM build host
/// (the bare guest's launch→ready went from 2.2 to 9 ms).
fn set_up_vm(kvm: &Kvm, memory: &GuestMemoryMmap, config: &VmConfig) -> Result<VmSetUp> {
    let vm = kvm.create_vm().map_err(kvm_error("create VM"))?;
    vm.set_tss_address(TSS_ADDRESS)
        .map_err(kvm_error("set TSS address"))?;
    crate::memory::register(&vm, memory)?;
    let memory_ns = monotonic_ns();
    match config.split_irqchip {
        true => ioapic::enable_split_irqchip(&vm)?,
        false => create_chips(&vm, config.pit)?,
    }
    Ok(VmSetUp {
        vm,
        chips_ns: monotonic_ns(),
        memory_ns,
    })
}

/// The in-kernel PIC, IOAPIC and LAPIC (before any vCPU), and unless `pit` is false a PIT with
/// the dummy speaker. KVM drives each PIT from a kernel worker thread; stopping it when the VM
/// goes took 10–25 ms of every teardown on our hosts, so a guest that needs no legacy timer
/// goes without.
pub(crate) fn create_chips(vm: &VmFd, pit: bool) -> Result<()> {
    vm.create_irq_chip().map_err(kvm_error("create irqchip"))?;
    if !pit {
        return Ok(());
    }
    vm.create_pit2(kvm_pit_config {
        flags: KVM_PIT_SPEAKER_DUMMY,
        ..Default::default()
    })
    .map_err(kvm_error("create PIT"))
}

/// Snapshots the VM at the boot-timer exit when asked (`--snapshot`): returns the guest
/// memory checksum it recorded, or none when no snapshot was asked for.
/// It is handed the VMM's I/O APIC when the VM has a split irqchip.
pub(crate) type SnapshotHook<'a> =
    dyn FnMut(&mut VcpuFd, Option<&Ioapic>) -> Result<Option<u32>> + 'a;

/// What the `ready` line stamps.
pub(crate) enum ReadyAt<'a, 'b> {
    /// A booted guest: its write of 123 to the boot-timer port, after which `snapshot` runs.
    BootTimer { snapshot: &'a mut SnapshotHook<'b> },
    /// A restored guest, which passed its boot-timer write before the snapshot: its first
    /// port or MMIO access after resume, the first sign that it runs again.
    FirstGuestExit,
}

/// What the run loop hands guest port and MMIO accesses to (besides its own ports).
pub(crate) struct Devices<'a, 'vm> {
    pub uart: &'a Arc<serial::Uart>,
    /// The I/O APIC, with a split irqchip; otherwise KVM's own.
    pub ioapic: Option<&'a mut RoutedIoapic<'vm>>,
}

/// Runs the vCPU until the guest ends the VM.
///
/// The serial input thread (stdin into the UART) is started lazily: at the guest's ready point,
/// or at its first read of a serial register if that comes first. Until then nothing can be
/// lost (input waits in the stdin pipe), and starting a thread (~60–100 µs of `clone3`, stack
/// mapping and thread set-up) is kept out of the launch→ready path of every boot and restore.
pub(crate) fn run_vcpu_on(
    vcpu: &mut VcpuFd,
    memory: &GuestMemoryMmap,
    mut devices: Devices,
    report: &mut Reporter,
    mut ready_at: ReadyAt,
) -> Result<ExitReason> {
    let uart = devices.uart;
    let mut ready_reported = false;
    let mut input = SerialInput::NotStarted;
    loop {
        let exit = match vcpu.run() {
            Ok(exit) => exit,
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => continue,
            Err(e) => {
                return Err(Error::Kvm {
                    what: "run vCPU",
                    source: e,
                })
            }
        };
        let guest_access = matches!(
            exit,
            VcpuExit::IoOut(..)
                | VcpuExit::IoIn(..)
                | VcpuExit::MmioRead(..)
                | VcpuExit::MmioWrite(..)
        );
        if guest_access && !ready_reported && matches!(ready_at, ReadyAt::FirstGuestExit) {
            report.event(&VmmEvent::Ready {
                at_ns: monotonic_ns(),
            });
            report.release();
            ready_reported = true;
        }
        if ready_reported || matches!(exit, VcpuExit::IoIn(serial::BASE..=serial::LAST, _)) {
            input.start(uart)?;
        }
        let mut snapshot_now = false;
        match exit {
            VcpuExit::IoOut(port, data) => {
                let value = data.first().copied().unwrap_or(0);
                match port {
                    serial::BASE..=serial::LAST => uart.write(port, value),
                    BOOT_TIMER_PORT if value == BOOT_TIMER_READY && !ready_reported => {
                        report.event(&VmmEvent::Ready {
                            at_ns: monotonic_ns(),
                        });
                        report.release();
                        ready_reported = true;
                        snapshot_now = true;
                    }
                    BOOT_TIMER_PORT if value == BOOT_TIMER_WORK_BEGIN => {
                        report.phase(VmmPhase::GuestWorkBegin)
                    }
                    BOOT_TIMER_PORT if value == BOOT_TIMER_WORK_END => {
                        report.phase(VmmPhase::GuestWorkEnd)
                    }
                    EXIT_PORT => return Ok(ExitReason::ExitPort),
                    i8042::COMMAND_PORT if i8042::write_is_reset(port, value) => {
                        return Ok(ExitReason::I8042Reset)
                    }
                    _ => {}
                }
            }
            VcpuExit::IoIn(port, data) => {
                let value = match port {
                    serial::BASE..=serial::LAST => uart.read(port),
                    i8042::DATA_PORT | i8042::COMMAND_PORT => i8042::read(port),
                    _ => 0xff,
                };
                data.fill(value);
            }
            VcpuExit::MmioRead(address, data) => {
                let ours = devices.ioapic.as_ref();
                if !ours.is_some_and(|ioapic| ioapic.mmio_read(address, data)) {
                    data.fill(0xff)
                }
            }
            VcpuExit::MmioWrite(address, data) => {
                if let Some(ioapic) = devices.ioapic.as_mut() {
                    ioapic.mmio_write(address, data)?;
                }
            }
            // Split irqchip, a level-triggered vector's EOI: no remote IRR to clear here.
            VcpuExit::IoapicEoi(_) | VcpuExit::IrqWindowOpen | VcpuExit::Intr => {}
            VcpuExit::Hlt => return Ok(ExitReason::Hlt),
            VcpuExit::Shutdown => return Ok(ExitReason::Shutdown),
            VcpuExit::SystemEvent(..) => return Ok(ExitReason::SystemEvent),
            VcpuExit::InternalError => return Err(internal_error(vcpu, memory)),
            VcpuExit::FailEntry(reason, _) => {
                return Err(Error::FailEntry {
                    reason,
                    hint: software_kvm_hint(),
                })
            }
            other => return Err(Error::Boot(format!("unexpected vCPU exit {other:?}"))),
        }
        if let (true, ReadyAt::BootTimer { snapshot }) = (snapshot_now, &mut ready_at) {
            let split = devices.ioapic.as_ref().map(|ioapic| ioapic.registers());
            if let Some(crc32) = snapshot(vcpu, split)? {
                report.phase(VmmPhase::Snapshot);
                report.event(&VmmEvent::MemoryChecksum { crc32 });
            }
        }
        if snapshot_now {
            // The ready point of a booted guest (after its snapshot, when one was asked for).
            input.start(uart)?;
        }
    }
}

/// Whether the serial input thread runs yet (see [`run_vcpu_on`]).
enum SerialInput {
    NotStarted,
    Started,
}

impl SerialInput {
    fn start(&mut self, uart: &Arc<serial::Uart>) -> Result<()> {
        if let SerialInput::NotStarted = self {
            serial::spawn_stdin_reader(uart.clone()).map_err(|source| Error::Host {
                what: "serial input thread",
                source,
            })?;
            *self = SerialInput::Started;
        }
        Ok(())
    }
}

/// The suberror and the bytes of the instruction KVM could not run.
fn internal_error(vcpu: &mut VcpuFd, memory: &GuestMemoryMmap) -> Error {
    // SAFETY: after KVM_EXIT_INTERNAL_ERROR the kernel filled the `internal` union member.
    let suberror = unsafe { vcpu.get_kvm_run().__bindgen_anon_1.internal.suberror };
    let rip = vcpu.get_regs().map(|r| r.rip).unwrap_or(0);
    let paging = vcpu.get_sregs().map_or(true, |s| s.cr0 & (1 << 31) != 0);
    let physical = match paging {
        false => Some(rip),
        true => vcpu
            .translate_gva(rip)
            .ok()
            .filter(|t| t.valid != 0)
            .map(|t| t.physical_address),
    };
    let mut bytes = [0u8; 15];
    let bytes = match physical.map(|p| memory.read_slice(&mut bytes, GuestAddress(p))) {
        Some(Ok(())) => bytes
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" "),
        _ => "unreadable".to_string(),
    };
    Error::Internal {
        suberror,
        rip,
        bytes,
        hint: software_kvm_hint(),
    }
}
