//! The bare guest: a PVH ELF of a few hundred bytes, generated here, that boots unchanged in
//! isobench-vmm, `qemu -M microvm`, Firecracker and Cloud Hypervisor. The floor of VM startup.
//!
//! It runs in 32-bit protected mode with paging off (the PVH entry state): loads its own GDT
//! and IDT, runs its work (`bare_work`: nothing, touch, cpu or mem, between two work stamps on
//! port 0x3f0), stamps the boot timer
//! (123 → port 0x3f0), prints `ISOBENCH-READY mode=bare` on the 16550 at 0x3f8, then sleeps in
//! `hlt` until a byte arrives on the serial line, and ends the VM by writing port 0xf4 (exit
//! device) and then 0xFE to port 0x64 (i8042 reset).
//!
//! Why it sleeps instead of polling the line status register: a polling guest keeps its VMM at
//! 100% of a host core (one exit per `in`) for as long as the benchmark holds it, which would
//! distort every density and memory figure. The serial interrupt is taken through the I/O APIC
//! and the local APIC, the one path every VMM here provides: KVM's in-kernel irqchip
//! (isobench-vmm, Firecracker, qemu with KVM), QEMU's emulated one (TCG) and Cloud
//! Hypervisor's split irqchip, which has no 8259 at all. The 8259 pair is masked and LINT0 is
//! masked, so nothing arrives twice.
use isobench_protocol::{BOOT_TIMER_PORT, BOOT_TIMER_READY, EXIT_PORT, READY_MARKER};

use super::asm::Asm;
use super::bare_work::{BareWork, WORK_MEMORY_START};
use super::elf::{pvh_elf, Segment};

/// Where the image is loaded (guest-physical): 1 MiB, above the legacy hole.
pub const LOAD_ADDRESS: u32 = 0x10_0000;
/// Memory the image claims beyond its file bytes (IDT, stack); zero-filled by the loader.
const IMAGE_MEMORY: u32 = 0x1_0000;
const IDT: u32 = LOAD_ADDRESS + 0x8000;
const STACK_TOP: u32 = LOAD_ADDRESS + IMAGE_MEMORY - 16;
/// GDT selectors of our flat segments.
const CODE_SELECTOR: u16 = 0x08;
const DATA_SELECTOR: u16 = 0x10;
/// Vectors 0x20..=0xff go to the one interrupt handler; 0..0x1f (exceptions) stay absent, so
/// a fault ends the VM with a triple fault (KVM_EXIT_SHUTDOWN) instead of looping.
const FIRST_IRQ_VECTOR: u32 = 0x20;
const IDT_ENTRIES: u32 = 256;
/// The vector the I/O APIC sends for COM1 (ISA IRQ 4).
const SERIAL_VECTOR: u32 = 0x24;
const SERIAL_IOAPIC_PIN: u32 = 4;
/// Local APIC registers (xAPIC MMIO, the reset state) and I/O APIC index/data windows.
const LAPIC: u32 = 0xFEE0_0000;
const LAPIC_ID: u32 = LAPIC + 0x20;
const LAPIC_EOI: u32 = LAPIC + 0xB0;
const LAPIC_SPURIOUS: u32 = LAPIC + 0xF0;
const LAPIC_LVT_LINT0: u32 = LAPIC + 0x350;
const IOAPIC_INDEX: u32 = 0xFEC0_0000;
const IOAPIC_DATA: u32 = 0xFEC0_0010;
const SERIAL: u16 = 0x3f8;
/// The line the bare guest prints on its serial console once ready.
pub fn ready_line() -> String {
    format!("{READY_MARKER} mode=bare\n")
}

/// Guest RAM the bare guest needs for `work`, with room to spare.
pub fn min_memory_mib(work: &BareWork) -> u32 {
    (WORK_MEMORY_START >> 20) + work.memory_mib() + 2
}

/// The whole ELF file.
pub fn bare_guest_elf(work: &BareWork) -> Vec<u8> {
    let (code, _) = code(work);
    pvh_elf(
        LOAD_ADDRESS,
        &Segment {
            bytes: &code,
            memory_size: IMAGE_MEMORY,
        },
    )
}

/// The machine code, and the offset where its data (GDT, pointers, message) begins.
fn code(work: &BareWork) -> (Vec<u8>, usize) {
    let mut a = Asm::new(LOAD_ADDRESS);
    a.label("entry");
    a.bytes(&[0xFA]); // cli
    a.bytes(&[0x0F, 0x01, 0x15]).addr32("gdt_pointer"); // lgdt [gdt_pointer]
    a.bytes(&[0xEA])
        .addr32("flat")
        .bytes(&CODE_SELECTOR.to_le_bytes()); // jmp far 0x08:flat
    a.label("flat");
    a.bytes(&[0x66, 0xB8]).bytes(&DATA_SELECTOR.to_le_bytes()); // mov ax, 0x10
    a.bytes(&[0x8E, 0xD8, 0x8E, 0xC0, 0x8E, 0xD0]); // mov ds, ax; mov es, ax; mov ss, ax
    a.bytes(&[0xBC]).imm32(STACK_TOP); // mov esp, STACK_TOP

    work.emit(&mut a);

    // IDT: vectors 0x20–0xff → `irq`, a 32-bit interrupt gate each (the gate clears IF).
    a.bytes(&[0xBF]).imm32(IDT + FIRST_IRQ_VECTOR * 8); // mov edi, &idt[0x20]
    a.bytes(&[0xB9]).imm32(IDT_ENTRIES - FIRST_IRQ_VECTOR); // mov ecx, 224
    a.label("fill_idt");
    a.bytes(&[0xC7, 0x07]); // mov dword [edi], selector << 16 | irq & 0xffff (patched below)
    let gate_low_at = a.here();
    a.imm32(0);
    a.bytes(&[0xC7, 0x47, 0x04]); // mov dword [edi + 4], irq & 0xffff0000 | 0x8e00
    let gate_high_at = a.here();
    a.imm32(0);
    a.bytes(&[0x83, 0xC7, 0x08]); // add edi, 8
    a.bytes(&[0x49]).jump8(0x75, "fill_idt"); // dec ecx; jnz fill_idt
    a.bytes(&[0x0F, 0x01, 0x1D]).addr32("idt_pointer"); // lidt [idt_pointer]

    // 8259 pair: mask every line (OCW1). Where one exists its output is unused (LINT0 masked).
    a.outb(0x21, 0xFF).outb(0xA1, 0xFF); // mov al, 0xff; out 0x21, al; mov al, 0xff; out 0xa1, al
                                         // Local APIC: software-enable it (spurious vector 0xff), and mask LINT0 (the 8259's ExtINT).
    a.store32(LAPIC_SPURIOUS, 0x100 | 0xFF); // mov dword [0xfee000f0], 0x1ff
    a.store32(LAPIC_LVT_LINT0, 1 << 16); // mov dword [0xfee00350], 0x10000 (masked)
                                         // I/O APIC pin 4 (COM1): destination = our own APIC id (bits 24–31 of the ID register sit
                                         // where the redirection entry's high word wants them), then fixed delivery of vector 0x24,
                                         // physical mode, active high, edge triggered, unmasked.
    a.load_eax(LAPIC_ID); // mov eax, [0xfee00020]
    a.bytes(&[0x25]).imm32(0xFF00_0000); // and eax, 0xff000000
    a.store32(IOAPIC_INDEX, 0x10 + 2 * SERIAL_IOAPIC_PIN + 1); // select redirection[4] high
    a.store_eax(IOAPIC_DATA); // mov [0xfec00010], eax
    a.store32(IOAPIC_INDEX, 0x10 + 2 * SERIAL_IOAPIC_PIN); // select redirection[4] low
    a.store32(IOAPIC_DATA, SERIAL_VECTOR); // vector 0x24, everything else 0 (unmasked)
                                           // 16550: interrupt on received data; MCR = DTR | RTS | OUT2 (OUT2 gates the IRQ on a PC).
    a.outb(SERIAL + 1, 0x01).outb(SERIAL + 4, 0x0B);

    // Ready: the boot timer, then the ready line, each byte once the transmitter is empty.
    a.outb(BOOT_TIMER_PORT, BOOT_TIMER_READY); // mov al, 123; mov dx, 0x3f0; out dx, al
    a.bytes(&[0xBE]).addr32("message"); // mov esi, message
    a.label("print");
    a.bytes(&[0x8A, 0x1E]); // mov bl, [esi]
    a.bytes(&[0x84, 0xDB]).jump8(0x74, "wait_input"); // test bl, bl; jz wait_input
    a.mov_dx(SERIAL + 5); // mov dx, 0x3fd (LSR)
    a.label("wait_transmit");
    a.bytes(&[0xEC, 0xA8, 0x20]).jump8(0x74, "wait_transmit"); // in al, dx; test al, 0x20; jz
    a.mov_dx(SERIAL).bytes(&[0x88, 0xD8, 0xEE]); // mov dx, 0x3f8; mov al, bl; out dx, al
    a.bytes(&[0x46]).jump8(0xEB, "print"); // inc esi; jmp print

    // Hold: check LSR bit 0 (data ready); if nothing yet, sleep until an interrupt. `sti; hlt`
    // is race-free: an interrupt pending at `sti` is taken only after `hlt` has begun.
    a.label("wait_input");
    a.mov_dx(SERIAL + 5); // mov dx, 0x3fd (LSR)
    a.bytes(&[0xEC, 0xA8, 0x01]).jump8(0x75, "released"); // in al, dx; test al, 1; jnz released
    a.bytes(&[0xFB, 0xF4, 0xFA]).jump8(0xEB, "wait_input"); // sti; hlt; cli; jmp wait_input
    a.label("released");
    a.mov_dx(SERIAL).bytes(&[0xEC]); // mov dx, 0x3f8; in al, dx (consume the byte)
    a.outb(EXIT_PORT, 0); // mov al, 0; out 0xf4, al: exit device (isobench-vmm, QEMU isa-debug-exit)
    a.outb(0x64, 0xFE); // mov al, 0xfe; out 0x64, al: i8042 reset (Firecracker, Cloud Hypervisor)
    a.label("halt");
    a.bytes(&[0xFA, 0xF4]).jump8(0xEB, "halt"); // cli; hlt; jmp halt

    // Interrupt handler: EOI to the local APIC and back to checking the line. It never returns
    // with iret (which software KVM such as kvm_pvm cannot emulate here): the only code an
    // interrupt can cut into is the `hlt` in the wait loop, so it resets the stack and rejoins
    // that loop, with IF still clear from the gate.
    a.label("irq");
    a.store32(LAPIC_EOI, 0); // mov dword [0xfee000b0], 0
    a.bytes(&[0xBC]).imm32(STACK_TOP); // mov esp, STACK_TOP
    a.jump8(0xEB, "wait_input"); // jmp wait_input

    // Data: GDT (null, flat 4 GiB code, flat 4 GiB data), the two descriptor-table pointers
    // (16-bit limit, 32-bit base), the NUL-terminated message.
    a.label("gdt");
    a.bytes(&0u64.to_le_bytes())
        .bytes(&0x00CF_9A00_0000_FFFFu64.to_le_bytes())
        .bytes(&0x00CF_9200_0000_FFFFu64.to_le_bytes());
    a.label("gdt_pointer");
    a.bytes(&(3 * 8 - 1u16).to_le_bytes()).addr32("gdt");
    a.label("idt_pointer");
    a.bytes(&((IDT_ENTRIES * 8 - 1) as u16).to_le_bytes())
        .imm32(IDT);
    a.label("message");
    a.bytes(ready_line().as_bytes()).bytes(&[0]);

    let data_start = (a.address_of("gdt") - LOAD_ADDRESS) as usize;
    let irq = a.address_of("irq");
    let gate_low = (u32::from(CODE_SELECTOR) << 16) | (irq & 0xFFFF);
    // Present, DPL 0, 32-bit interrupt gate (type 0xE), handler offset bits 16–31.
    let gate_high = (irq & 0xFFFF_0000) | 0x8E00;
    let mut code = a.finish();
    let offset = |at: u32| (at - LOAD_ADDRESS) as usize;
    code[offset(gate_low_at)..offset(gate_low_at) + 4].copy_from_slice(&gate_low.to_le_bytes());
    code[offset(gate_high_at)..offset(gate_high_at) + 4].copy_from_slice(&gate_high.to_le_bytes());
    (code, data_start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::microvm::elf::{elf_entry, parse_pvh_entry, program_headers};

    #[test]
    fn is_a_small_pvh_elf_with_one_load_segment_at_1_mib() {
        for work in [
            BareWork::Noop,
            BareWork::Touch { mib: 64 },
            BareWork::Cpu { units: 50 },
            BareWork::Mem { mib: 64 },
        ] {
            let elf = bare_guest_elf(&work);
            assert!(elf.len() < 1024, "{} bytes", elf.len());
            let headers = program_headers(&elf).expect("an x86-64 ELF64");
            let loads: Vec<_> = headers.iter().filter(|h| h.is_load()).collect();
            assert_eq!(loads.len(), 1, "{headers:?}");
            let load = loads[0];
            assert_eq!(load.physical_address, u64::from(LOAD_ADDRESS));
            assert_eq!(load.virtual_address, u64::from(LOAD_ADDRESS));
            assert_eq!(
                load.offset + load.file_size,
                elf.len() as u64,
                "the code ends the file"
            );
            assert_eq!(
                load.memory_size,
                u64::from(IMAGE_MEMORY),
                "IDT and stack are zero-filled"
            );
            assert_eq!(headers.iter().filter(|h| h.is_note()).count(), 1);
            assert_eq!(
                parse_pvh_entry(&elf),
                Some(LOAD_ADDRESS),
                "Xen PVH entry note"
            );
            assert_eq!(elf_entry(&elf), Some(u64::from(LOAD_ADDRESS)));
            let code = &elf[load.offset as usize..];
            assert_eq!(
                code[0], 0xFA,
                "the entry point is the first byte of the segment (cli)"
            );
            let line = ready_line();
            assert!(code.windows(line.len()).any(|w| w == line.as_bytes()));
        }
    }

    #[test]
    fn readelf_agrees() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bare.elf");
        std::fs::write(&path, bare_guest_elf(&BareWork::Noop)).unwrap();
        let out = std::process::Command::new("readelf")
            .args(["-W", "-h", "-l", "-n"])
            .arg(&path)
            .output()
            .expect("readelf (binutils) is needed for this test: apt-get install binutils");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for expected in [
            "ELF64",
            "Advanced Micro Devices X86-64",
            "Entry point address:               0x100000",
            "LOAD",
            "NOTE",
            "Xen",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
        // readelf names type 18 for Xen notes: "NT_VERSION"-style names differ by version, so
        // check the raw type or its name.
        assert!(
            text.contains("0x00000012") || text.contains("PHYS32_ENTRY"),
            "{text}"
        );
    }

    #[test]
    fn touch_size_is_encoded() {
        let pages = (8u32 * 256).to_le_bytes();
        assert!(bare_guest_elf(&BareWork::Touch { mib: 8 })
            .windows(5)
            .any(|w| w[0] == 0xB9 && w[1..] == pages));
        assert_eq!(min_memory_mib(&BareWork::Touch { mib: 8 }), 12);
        assert_eq!(min_memory_mib(&BareWork::Mem { mib: 8 }), 20);
    }

    #[test]
    fn disassembles_to_the_intended_instructions() {
        let text = disassemble(&BareWork::Touch { mib: 1 });
        for expected in [
            "lgdt",
            "jmp    0x8:0x10000f",
            "lidt",
            "mov    DWORD PTR ds:0xfee000f0,0x1ff",
            "mov    DWORD PTR ds:0xfee00350,0x10000",
            "mov    eax,ds:0xfee00020",
            "mov    DWORD PTR ds:0xfec00000,0x19",
            "mov    ds:0xfec00010,eax",
            "mov    DWORD PTR ds:0xfec00010,0x24",
            "mov    DWORD PTR ds:0xfee000b0,0x0",
            "mov    BYTE PTR [edi],0x1",
            "out    0xf4,al",
            "out    0x64,al",
            "sti",
            "hlt",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
    }

    #[test]
    fn cpu_and_mem_disassemble_to_the_probe_loops() {
        let cpu = disassemble(&BareWork::Cpu { units: 2 });
        for expected in [
            "mov    edx,0x9e3779b9",
            "mov    ebx,0x2",
            "mov    ecx,0xf4240",
            "shl    eax,0xd",
            "shr    eax,0x11",
            "shl    eax,0x5",
            "xor    edx,eax",
        ] {
            assert!(cpu.contains(expected), "missing {expected:?} in:\n{cpu}");
        }
        let mem = disassemble(&BareWork::Mem { mib: 4 });
        for expected in [
            "cld",
            "mov    edi,0x200000",
            "mov    edi,0x600000",
            "mov    ecx,0x400000",
            "rep stos BYTE PTR es:[edi],al",
            "rep movs BYTE PTR es:[edi],BYTE PTR ds:[esi]",
            "mov    ebx,0x8",
        ] {
            assert!(mem.contains(expected), "missing {expected:?} in:\n{mem}");
        }
    }

    /// objdump's Intel-syntax listing of the code before the data; fails on undecodable bytes.
    fn disassemble(work: &BareWork) -> String {
        let (code, data_start) = code(work);
        let code = &code[..data_start];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("code.bin");
        std::fs::write(&path, code).unwrap();
        let out = std::process::Command::new("objdump")
            .args([
                "-D",
                "-b",
                "binary",
                "-m",
                "i386",
                "-M",
                "intel",
                "--adjust-vma=0x100000",
            ])
            .arg(&path)
            .output()
            .expect("objdump (binutils) is needed for this test: apt-get install binutils");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            !text.contains("(bad)"),
            "undecodable bytes before the data:\n{text}"
        );
        text
    }
}
