//! vCPU state at the first instruction: CPUID, MSRs, FPU, LAPIC, and the registers and
//! descriptor tables of the chosen entry (PVH 32-bit protected mode, or 64-bit long mode).
use kvm_bindings::{
    kvm_fpu, kvm_msr_entry, kvm_regs, kvm_segment, kvm_sregs, CpuId, Msrs, KVM_MAX_CPUID_ENTRIES,
};
use kvm_ioctls::{Kvm, VcpuFd};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

use crate::boot::Entry;
use crate::error::{Error, Result};
use crate::layout::{BOOT_STACK, GDT, PD, PDPT, PML4, PVH_START_INFO, ZERO_PAGE};

const CR0_PE: u64 = 1;
const CR0_ET: u64 = 1 << 4;
const CR0_PG: u64 = 1 << 31;
const CR4_PAE: u64 = 1 << 5;
const EFER_LME: u64 = 1 << 8;
const EFER_LMA: u64 = 1 << 10;
/// Page-table entry bits: present, writable, 2 MiB page.
const PTE_PRESENT_WRITABLE: u64 = 0x3;
const PDE_HUGE: u64 = 1 << 7;
/// CPUID leaf 1 ECX: TSC-deadline timer (24) and "running under a hypervisor" (31).
const CPUID_ECX_TSC_DEADLINE: u32 = 1 << 24;
const CPUID_ECX_HYPERVISOR: u32 = 1 << 31;
/// LAPIC register offsets and LVT delivery modes.
const APIC_LVT0: usize = 0x350;
const APIC_LVT1: usize = 0x360;
const APIC_MODE_EXTINT: u32 = 0x7 << 8;
const APIC_MODE_NMI: u32 = 0x4 << 8;

/// GDT entries: null, 64-bit code, data, TSS (flat). Selectors 0x08, 0x10, 0x18.
pub const GDT_ENTRIES: [u64; 4] = [
    0,
    0x00af_9b00_0000_ffff,
    0x00cf_9300_0000_ffff,
    0x008f_8b00_0000_ffff,
];

fn kvm_error(what: &'static str) -> impl Fn(kvm_ioctls::Error) -> Error {
    move |source| Error::Kvm { what, source }
}

pub fn setup(kvm: &Kvm, vcpu: &VcpuFd, memory: &GuestMemoryMmap, entry: Entry) -> Result<()> {
    let mut cpuid = kvm
        .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
        .map_err(kvm_error("get supported CPUID"))?;
    edit_cpuid(&mut cpuid);
    vcpu.set_cpuid2(&cpuid).map_err(kvm_error("set CPUID"))?;
    let msrs = boot_msrs();
    let set = vcpu.set_msrs(&msrs).map_err(kvm_error("set MSRs"))?;
    if let Some(refused) = msrs.as_slice().get(set) {
        return Err(Error::Boot(format!(
            "KVM refused boot MSR {:#x} ({set} of {} set)",
            refused.index,
            msrs.as_slice().len()
        )));
    }
    vcpu.set_fpu(&kvm_fpu {
        fcw: 0x37f,
        mxcsr: 0x1f80,
        ..Default::default()
    })
    .map_err(kvm_error("set FPU"))?;
    let mut lapic = vcpu.get_lapic().map_err(kvm_error("get LAPIC"))?;
    set_lapic_register(&mut lapic.regs, APIC_LVT0, APIC_MODE_EXTINT);
    set_lapic_register(&mut lapic.regs, APIC_LVT1, APIC_MODE_NMI);
    vcpu.set_lapic(&lapic).map_err(kvm_error("set LAPIC"))?;

    let mut sregs = vcpu
        .get_sregs()
        .map_err(kvm_error("get special registers"))?;
    let mut regs = kvm_regs {
        rflags: 0x2,
        ..Default::default()
    };
    match entry {
        Entry::Pvh(address) => {
            protected_mode_sregs(&mut sregs);
            regs.rip = address;
            regs.rbx = PVH_START_INFO;
        }
        Entry::Linux64(address) => {
            write_page_tables(memory)?;
            let gdt: Vec<u8> = GDT_ENTRIES.iter().flat_map(|e| e.to_le_bytes()).collect();
            memory
                .write_slice(&gdt, GuestAddress(GDT))
                .map_err(|e| Error::Boot(e.to_string()))?;
            long_mode_sregs(&mut sregs);
            regs.rip = address;
            regs.rsp = BOOT_STACK;
            regs.rbp = BOOT_STACK;
            regs.rsi = ZERO_PAGE;
        }
    }
    vcpu.set_sregs(&sregs)
        .map_err(kvm_error("set special registers"))?;
    vcpu.set_regs(&regs).map_err(kvm_error("set registers"))?;
    Ok(())
}

/// Adds the hypervisor and TSC-deadline bits and pins the APIC id to 0 (one vCPU).
pub fn edit_cpuid(cpuid: &mut CpuId) {
    for entry in cpuid.as_mut_slice() {
        match entry.function {
            1 => {
                entry.ecx |= CPUID_ECX_HYPERVISOR | CPUID_ECX_TSC_DEADLINE;
                entry.ebx &= 0x00ff_ffff; // initial APIC id 0
                entry.ebx = (entry.ebx & !0x00ff_0000) | (1 << 16); // one logical processor
            }
            0xb | 0x1f => entry.edx = 0, // x2APIC id 0
            _ => {}
        }
    }
}

fn boot_msrs() -> Msrs {
    let entry = |index: u32, data: u64| kvm_msr_entry {
        index,
        data,
        ..Default::default()
    };
    let entries = [
        entry(0x174, 0),       // IA32_SYSENTER_CS
        entry(0x175, 0),       // IA32_SYSENTER_ESP
        entry(0x176, 0),       // IA32_SYSENTER_EIP
        entry(0xc000_0081, 0), // STAR
        entry(0xc000_0082, 0), // LSTAR
        entry(0xc000_0083, 0), // CSTAR
        entry(0xc000_0102, 0), // KERNEL_GS_BASE
        entry(0xc000_0084, 0), // SYSCALL_MASK
        entry(0x10, 0),        // TSC
        entry(0x1a0, 1),       // MISC_ENABLE: fast strings
    ];
    Msrs::from_entries(&entries).expect("ten MSRs fit in a kvm_msrs")
}

fn set_lapic_register(regs: &mut [std::os::raw::c_char; 1024], offset: usize, mode: u32) {
    let current = u32::from_le_bytes(std::array::from_fn(|i| regs[offset + i] as u8));
    let value = (current & !0x700) | mode;
    for (i, byte) in value.to_le_bytes().into_iter().enumerate() {
        regs[offset + i] = byte as std::os::raw::c_char;
    }
}

fn segment(selector: u16, type_: u8, long: bool) -> kvm_segment {
    kvm_segment {
        base: 0,
        limit: 0xffff_ffff,
        selector,
        type_,
        present: 1,
        dpl: 0,
        db: u8::from(!long),
        s: 1,
        l: u8::from(long),
        g: 1,
        ..Default::default()
    }
}

/// 32-bit protected mode, paging off, flat segments: the PVH entry state.
fn protected_mode_sregs(sregs: &mut kvm_sregs) {
    sregs.cs = segment(0x08, 0xb, false);
    let data = segment(0x10, 0x3, false);
    (sregs.ds, sregs.es, sregs.fs, sregs.gs, sregs.ss) = (data, data, data, data, data);
    sregs.tr = kvm_segment {
        limit: 0x67,
        type_: 0xb,
        present: 1,
        selector: 0x18,
        ..Default::default()
    };
    sregs.cr0 = CR0_PE | CR0_ET;
    sregs.cr4 = 0;
    sregs.efer = 0;
}

/// 64-bit long mode with our GDT and identity page tables.
fn long_mode_sregs(sregs: &mut kvm_sregs) {
    sregs.gdt.base = GDT;
    sregs.gdt.limit = (GDT_ENTRIES.len() * 8 - 1) as u16;
    sregs.idt.base = 0;
    sregs.idt.limit = 0;
    sregs.cs = segment(0x08, 0xb, true);
    let data = segment(0x10, 0x3, false);
    (sregs.ds, sregs.es, sregs.fs, sregs.gs, sregs.ss) = (data, data, data, data, data);
    sregs.tr = kvm_segment {
        limit: 0xfffff,
        type_: 0xb,
        present: 1,
        selector: 0x18,
        g: 1,
        ..Default::default()
    };
    sregs.cr0 = CR0_PE | CR0_ET | CR0_PG;
    sregs.cr3 = PML4;
    sregs.cr4 = CR4_PAE;
    sregs.efer = EFER_LME | EFER_LMA;
}

/// PML4[0] → PDPT[0] → PD with 512 2 MiB pages: the first GiB, identity-mapped.
pub fn page_table_entries() -> (u64, u64, Vec<u64>) {
    let pml4 = PDPT | PTE_PRESENT_WRITABLE;
    let pdpt = PD | PTE_PRESENT_WRITABLE;
    let pd = (0..512u64)
        .map(|i| (i << 21) | PTE_PRESENT_WRITABLE | PDE_HUGE)
        .collect();
    (pml4, pdpt, pd)
}

fn write_page_tables(memory: &GuestMemoryMmap) -> Result<()> {
    let (pml4, pdpt, pd) = page_table_entries();
    let boot = |e: vm_memory::GuestMemoryError| Error::Boot(format!("page tables: {e}"));
    memory.write_obj(pml4, GuestAddress(PML4)).map_err(boot)?;
    memory.write_obj(pdpt, GuestAddress(PDPT)).map_err(boot)?;
    let bytes: Vec<u8> = pd.iter().flat_map(|e| e.to_le_bytes()).collect();
    memory.write_slice(&bytes, GuestAddress(PD)).map_err(boot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvm_bindings::kvm_cpuid_entry2;

    #[test]
    fn page_tables_identity_map_the_first_gib() {
        let (pml4, pdpt, pd) = page_table_entries();
        assert_eq!(pml4, 0xa003);
        assert_eq!(pdpt, 0xb003);
        assert_eq!(pd.len(), 512);
        assert_eq!(pd[0], 0x83);
        assert_eq!(pd[1], 0x20_0083);
        assert_eq!(pd[511], (511 << 21) | 0x83);
    }

    #[test]
    fn cpuid_gets_hypervisor_and_tsc_deadline_bits_and_apic_id_zero() {
        let leaf1 = kvm_cpuid_entry2 {
            function: 1,
            ebx: 0x0305_0800,
            ..Default::default()
        };
        let leafb = kvm_cpuid_entry2 {
            function: 0xb,
            edx: 7,
            ..Default::default()
        };
        let mut cpuid = CpuId::from_entries(&[leaf1, leafb]).unwrap();
        edit_cpuid(&mut cpuid);
        let entries = cpuid.as_slice();
        assert_eq!(entries[0].ecx & (1 << 31), 1 << 31, "hypervisor bit");
        assert_eq!(entries[0].ecx & (1 << 24), 1 << 24, "TSC-deadline bit");
        assert_eq!(entries[0].ebx >> 24, 0, "APIC id 0");
        assert_eq!((entries[0].ebx >> 16) & 0xff, 1, "one logical processor");
        assert_eq!(entries[0].ebx & 0xffff, 0x0800, "other ebx fields kept");
        assert_eq!(entries[1].edx, 0, "x2APIC id 0");
    }

    #[test]
    fn lvt_delivery_modes() {
        let mut regs = [0 as std::os::raw::c_char; 1024];
        regs[APIC_LVT0 + 2] = 1; // masked bit 16 stays
        set_lapic_register(&mut regs, APIC_LVT0, APIC_MODE_EXTINT);
        let value = u32::from_le_bytes(std::array::from_fn(|i| regs[APIC_LVT0 + i] as u8));
        assert_eq!(value, 0x1_0700);
    }
}
