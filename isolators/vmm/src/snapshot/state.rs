//! The VM's state apart from guest RAM: the vCPU (registers, special registers, XSAVE area,
//! XCRs, debug registers, LAPIC, MSRs, MP state, pending events, CPUID), the VM (KVM's PIC
//! pair, IOAPIC and PIT when present, or the VMM's own I/O APIC with a split irqchip; kvmclock)
//! and the 16550 UART's registers. Captured from a paused VM and set on a freshly created one,
//! in the order KVM needs.
use kvm_bindings::{
    kvm_clock_data, kvm_cpuid_entry2, kvm_debugregs, kvm_irqchip, kvm_lapic_state, kvm_mp_state,
    kvm_msr_entry, kvm_pit_state2, kvm_regs, kvm_sregs, kvm_vcpu_events, kvm_xcrs, kvm_xsave,
    CpuId, Msrs, KVM_IRQCHIP_IOAPIC, KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE,
    KVM_MAX_CPUID_ENTRIES,
};
use kvm_ioctls::{Kvm, VcpuFd, VmFd};
use vm_superio::serial::SerialState;

use super::format::{Reader, Writer};
use crate::devices::ioapic::Ioapic;
use crate::error::{Error, Result};

fn kvm_error(what: &'static str) -> impl Fn(kvm_ioctls::Error) -> Error {
    move |source| Error::Kvm { what, source }
}

/// Everything but guest RAM.
pub struct VmState {
    pub regs: kvm_regs,
    pub sregs: kvm_sregs,
    pub xsave: kvm_xsave,
    pub xcrs: kvm_xcrs,
    pub debugregs: kvm_debugregs,
    pub lapic: kvm_lapic_state,
    pub mp_state: kvm_mp_state,
    pub events: kvm_vcpu_events,
    pub cpuid: Vec<kvm_cpuid_entry2>,
    pub msrs: Vec<kvm_msr_entry>,
    pub chips: Chips,
    pub clock: kvm_clock_data,
    pub serial: SerialState,
}

/// The interrupt controllers besides the local APIC (which is in [`VmState::lapic`]).
pub enum Chips {
    /// KVM's in-kernel PIC master, PIC slave and I/O APIC, and its PIT when the VM had one.
    InKernel {
        irqchips: Box<[kvm_irqchip; 3]>,
        pit: Option<kvm_pit_state2>,
    },
    /// A split irqchip (`--split-irqchip`): the I/O APIC is the VMM's, and no PIC or PIT exist.
    Split { ioapic: Ioapic },
}

/// The interrupt controllers of a VM about to be captured: KVM's (with its PIT or without),
/// or a split irqchip with the VMM's I/O APIC.
pub enum ChipsOf<'a> {
    InKernel { pit: bool },
    Split(&'a Ioapic),
}

impl Chips {
    /// Reads KVM's chips (and its PIT when there is one), or takes the VMM's I/O APIC.
    fn capture(vm: &VmFd, of: ChipsOf) -> Result<Chips> {
        let pit = match of {
            ChipsOf::Split(ioapic) => {
                return Ok(Chips::Split {
                    ioapic: ioapic.clone(),
                })
            }
            ChipsOf::InKernel { pit } => pit,
        };
        let mut irqchips = CHIP_IDS.map(|chip_id| kvm_irqchip {
            chip_id,
            ..Default::default()
        });
        for chip in &mut irqchips {
            vm.get_irqchip(chip).map_err(kvm_error("get irqchip"))?;
        }
        let pit = match pit {
            true => Some(vm.get_pit2().map_err(kvm_error("get PIT"))?),
            false => None,
        };
        Ok(Chips::InKernel {
            irqchips: Box::new(irqchips),
            pit,
        })
    }

    /// Tag 0, the three chips, a PIT flag and the PIT; or tag 1 and the I/O APIC's registers.
    fn encode(&self, w: &mut Writer) {
        match self {
            Chips::InKernel { irqchips, pit } => {
                w.put(&0u8);
                for chip in irqchips.iter() {
                    w.put(chip);
                }
                w.put(&u8::from(pit.is_some()));
                if let Some(pit) = pit {
                    w.put(pit);
                }
            }
            Chips::Split { ioapic } => {
                w.put(&1u8);
                w.put(&ioapic.index);
                w.put(&ioapic.id);
                w.put(&ioapic.redirection);
            }
        }
    }

    fn decode(r: &mut Reader) -> Result<Chips> {
        match r.get::<u8>()? {
            0 => Ok(Chips::InKernel {
                irqchips: Box::new([r.get()?, r.get()?, r.get()?]),
                pit: match r.get::<u8>()? {
                    0 => None,
                    _ => Some(r.get()?),
                },
            }),
            1 => Ok(Chips::Split {
                ioapic: Ioapic {
                    index: r.get()?,
                    id: r.get()?,
                    redirection: r.get()?,
                },
            }),
            tag => Err(Error::SnapshotState(format!(
                "unknown interrupt controller kind {tag}"
            ))),
        }
    }
}

const CHIP_IDS: [u32; 3] = [
    KVM_IRQCHIP_PIC_MASTER,
    KVM_IRQCHIP_PIC_SLAVE,
    KVM_IRQCHIP_IOAPIC,
];

/// The MSRs to save: KVM's index list, less those whose read fails and those KVM will not
/// take back (each is written back with the value just read, on the paused vCPU, which changes
/// nothing), so that a restore on the same host sets every one it finds.
fn readable_msrs(kvm: &Kvm, vcpu: &VcpuFd) -> Result<Vec<kvm_msr_entry>> {
    let indices = kvm.get_msr_index_list().map_err(kvm_error("list MSRs"))?;
    let mut read = Vec::new();
    for &index in indices.as_slice() {
        let mut one = Msrs::from_entries(&[kvm_msr_entry {
            index,
            ..Default::default()
        }])
        .map_err(|e| Error::SnapshotState(format!("MSR list: {e:?}")))?;
        if vcpu.get_msrs(&mut one).is_ok_and(|n| n == 1)
            && vcpu.set_msrs(&one).is_ok_and(|n| n == 1)
        {
            read.push(one.as_slice()[0]);
        }
    }
    Ok(read)
}

impl VmState {
    /// The state of a VM whose vCPU is out of `KVM_RUN` with no I/O pending (see
    /// `snapshot::take`), whose interrupt controllers are `chips`.
    pub fn capture(
        kvm: &Kvm,
        vm: &VmFd,
        vcpu: &VcpuFd,
        chips: ChipsOf,
        serial: SerialState,
    ) -> Result<VmState> {
        Ok(VmState {
            mp_state: vcpu.get_mp_state().map_err(kvm_error("get MP state"))?,
            regs: vcpu.get_regs().map_err(kvm_error("get registers"))?,
            sregs: vcpu
                .get_sregs()
                .map_err(kvm_error("get special registers"))?,
            xsave: vcpu.get_xsave().map_err(kvm_error("get XSAVE"))?,
            xcrs: vcpu.get_xcrs().map_err(kvm_error("get XCRs"))?,
            debugregs: vcpu
                .get_debug_regs()
                .map_err(kvm_error("get debug registers"))?,
            lapic: vcpu.get_lapic().map_err(kvm_error("get LAPIC"))?,
            events: vcpu
                .get_vcpu_events()
                .map_err(kvm_error("get vCPU events"))?,
            cpuid: vcpu
                .get_cpuid2(KVM_MAX_CPUID_ENTRIES)
                .map_err(kvm_error("get CPUID"))?
                .as_slice()
                .to_vec(),
            msrs: readable_msrs(kvm, vcpu)?,
            chips: Chips::capture(vm, chips)?,
            clock: vm.get_clock().map_err(kvm_error("get clock"))?,
            serial,
        })
    }

    /// Sets the VM-wide state on `vm`, whose chips exist as [`VmState::chips`] says (the
    /// VMM's I/O APIC of a split irqchip is set up by its owner, `RoutedIoapic::restore`).
    pub fn apply_to_vm(&self, vm: &VmFd) -> Result<()> {
        if let Chips::InKernel { irqchips, pit } = &self.chips {
            for chip in irqchips.iter() {
                vm.set_irqchip(chip).map_err(kvm_error("set irqchip"))?;
            }
            if let Some(pit) = pit {
                vm.set_pit2(pit).map_err(kvm_error("set PIT"))?;
            }
        }
        // Flags describe how the value was read (TSC-stable, realtime); setting takes the value.
        let clock = kvm_clock_data {
            clock: self.clock.clock,
            ..Default::default()
        };
        vm.set_clock(&clock).map_err(kvm_error("set clock"))
    }

    /// Sets the vCPU state: CPUID before the MSRs and XSAVE it gates, the LAPIC before the
    /// pending events, which may name an interrupt it holds.
    pub fn apply_to_vcpu(&self, vcpu: &VcpuFd) -> Result<()> {
        let cpuid = CpuId::from_entries(&self.cpuid)
            .map_err(|e| Error::SnapshotState(format!("CPUID: {e:?}")))?;
        vcpu.set_cpuid2(&cpuid).map_err(kvm_error("set CPUID"))?;
        vcpu.set_mp_state(self.mp_state)
            .map_err(kvm_error("set MP state"))?;
        vcpu.set_regs(&self.regs)
            .map_err(kvm_error("set registers"))?;
        vcpu.set_sregs(&self.sregs)
            .map_err(kvm_error("set special registers"))?;
        // SAFETY: the XSAVE area was read from a vCPU of the same VMM version on a host with
        // the same CPUID (set just above); kvm_xsave is the legacy 4 KiB area KVM_SET_XSAVE
        // reads, with no trailing FAM entries.
        unsafe { vcpu.set_xsave(&self.xsave) }.map_err(kvm_error("set XSAVE"))?;
        vcpu.set_xcrs(&self.xcrs).map_err(kvm_error("set XCRs"))?;
        vcpu.set_debug_regs(&self.debugregs)
            .map_err(kvm_error("set debug registers"))?;
        vcpu.set_lapic(&self.lapic)
            .map_err(kvm_error("set LAPIC"))?;
        let msrs = Msrs::from_entries(&self.msrs)
            .map_err(|e| Error::SnapshotState(format!("MSRs: {e:?}")))?;
        let set = vcpu.set_msrs(&msrs).map_err(kvm_error("set MSRs"))?;
        if let Some(refused) = self.msrs.get(set) {
            return Err(Error::SnapshotState(format!(
                "KVM refused MSR {:#x} ({set} of {} set)",
                refused.index,
                self.msrs.len()
            )));
        }
        vcpu.set_vcpu_events(&self.events)
            .map_err(kvm_error("set vCPU events"))
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.put(&self.regs);
        w.put(&self.sregs);
        w.put(&self.xsave);
        w.put(&self.xcrs);
        w.put(&self.debugregs);
        w.put(&self.lapic);
        w.put(&self.mp_state);
        w.put(&self.events);
        w.put_slice(&self.cpuid);
        w.put_slice(&self.msrs);
        self.chips.encode(&mut w);
        w.put(&self.clock);
        let s = &self.serial;
        w.put(&[
            s.baud_divisor_low,
            s.baud_divisor_high,
            s.interrupt_enable,
            s.interrupt_identification,
            s.line_control,
            s.line_status,
            s.modem_control,
            s.modem_status,
            s.scratch,
        ]);
        w.put_slice(&s.in_buffer);
        w.bytes
    }

    pub fn decode(body: &[u8]) -> Result<VmState> {
        let mut r = Reader::new(body);
        let mut state = VmState {
            regs: r.get()?,
            sregs: r.get()?,
            xsave: r.get()?,
            xcrs: r.get()?,
            debugregs: r.get()?,
            lapic: r.get()?,
            mp_state: r.get()?,
            events: r.get()?,
            cpuid: r.get_vec()?,
            msrs: r.get_vec()?,
            chips: Chips::decode(&mut r)?,
            clock: r.get()?,
            serial: SerialState::default(),
        };
        let [baud_divisor_low, baud_divisor_high, interrupt_enable, interrupt_identification, line_control, line_status, modem_control, modem_status, scratch] =
            r.array::<9>()?;
        state.serial = SerialState {
            baud_divisor_low,
            baud_divisor_high,
            interrupt_enable,
            interrupt_identification,
            line_control,
            line_status,
            modem_control,
            modem_status,
            scratch,
            in_buffer: r.get_vec()?,
        };
        r.finish()?;
        Ok(state)
    }
}
