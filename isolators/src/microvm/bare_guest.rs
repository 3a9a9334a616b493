//! The bare guest: a PVH ELF of a few hundred bytes, generated here, that boots unchanged in
//! isobench-vmm, `qemu -M microvm`, Firecracker and Cloud Hypervisor. The floor of VM startup.
//!
//! It runs in 32-bit protected mode with paging off (the PVH entry state): loads its own GDT
//! and a small IDT, optionally touches N MiB (one write per page), stamps the boot timer
//! (123 → port 0x3f0), prints `ISOBENCH-READY mode=bare` on the 16550 at 0x3f8, then sleeps in
//! `hlt` until a byte arrives on the serial line (IRQ 4 through the 8259), and ends the VM by
//! writing port 0xf4 (exit device) and then 0xFE to port 0x64 (i8042 reset).
use super::asm::Asm;
use super::elf::{pvh_elf, Segment};

/// Where the image is loaded (guest-physical): 1 MiB, above the legacy hole.
pub const LOAD_ADDRESS: u32 = 0x10_0000;
/// Memory the image claims beyond its file bytes (IDT, stack); zero-filled by the loader.
const IMAGE_MEMORY: u32 = 0x1_0000;
const IDT: u32 = LOAD_ADDRESS + 0x8000;
const STACK_TOP: u32 = LOAD_ADDRESS + IMAGE_MEMORY - 16;
/// Touched memory starts at 2 MiB, after the image.
pub const TOUCH_START: u32 = 0x20_0000;
const PAGE: u32 = 4096;
/// GDT selectors of our flat segments.
const CODE_SELECTOR: u16 = 0x08;
const DATA_SELECTOR: u16 = 0x10;
/// The 8259s deliver IRQ 0–15 as vectors 0x20–0x2f.
const PIC_VECTOR_BASE: u8 = 0x20;
const SERIAL: u16 = 0x3f8;
pub const READY_LINE: &str = "ISOBENCH-READY mode=bare\n";

/// Guest RAM the bare guest needs to touch `touch_mib` MiB, with room to spare.
pub fn min_memory_mib(touch_mib: u32) -> u32 {
    (TOUCH_START >> 20) + touch_mib + 2
}

/// The whole ELF file.
pub fn bare_guest_elf(touch_mib: u32) -> Vec<u8> {
    let (code, _) = code(touch_mib);
    pvh_elf(
        LOAD_ADDRESS,
        &Segment {
            bytes: &code,
            memory_size: IMAGE_MEMORY,
        },
    )
}

/// The machine code, and the offset where its data (GDT, pointers, message) begins.
fn code(touch_mib: u32) -> (Vec<u8>, usize) {
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

    // Touch: one byte per page from TOUCH_START.
    a.bytes(&[0xBF]).imm32(TOUCH_START); // mov edi, TOUCH_START
    a.bytes(&[0xB9]).imm32(touch_mib * (0x10_0000 / PAGE)); // mov ecx, pages
    a.bytes(&[0x85, 0xC9]).jump8(0x74, "touched"); // test ecx, ecx; jz touched
    a.label("touch");
    a.bytes(&[0xC6, 0x07, 0x01]); // mov byte [edi], 1
    a.bytes(&[0x81, 0xC7]).imm32(PAGE); // add edi, PAGE
    a.bytes(&[0x49]).jump8(0x75, "touch"); // dec ecx; jnz touch
    a.label("touched");

    // IDT: vectors 0x20–0x2f (the PICs' IRQs) → `irq`, a 32-bit interrupt gate each.
    a.bytes(&[0xBF]).imm32(IDT + u32::from(PIC_VECTOR_BASE) * 8); // mov edi, &idt[0x20]
    a.bytes(&[0xB9]).imm32(16); // mov ecx, 16
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

    // Turn the local APIC off (IA32_APIC_BASE bit 11): the CPU then takes the 8259's INTR
    // directly, whatever LINT0 the VMM left us (QEMU, KVM and Firecracker all differ there).
    a.bytes(&[0xB9]).imm32(0x1B); // mov ecx, IA32_APIC_BASE
    a.bytes(&[0x0F, 0x32]); // rdmsr
    a.bytes(&[0x25]).imm32(!0x800); // and eax, ~APIC_ENABLE
    a.bytes(&[0x0F, 0x30]); // wrmsr

    // 8259 pair: ICW1–ICW4, vector bases 0x20/0x28, then mask everything but IRQ 4.
    for (port, value) in [
        (0x20, 0x11),
        (0x21, PIC_VECTOR_BASE),
        (0x21, 0x04),
        (0x21, 0x01),
        (0x21, 0xEF),
    ] {
        a.outb(port, value);
    }
    for (port, value) in [
        (0xA0, 0x11),
        (0xA1, PIC_VECTOR_BASE + 8),
        (0xA1, 0x02),
        (0xA1, 0x01),
        (0xA1, 0xFF),
    ] {
        a.outb(port, value);
    }
    // 16550: interrupt on received data; MCR = DTR | RTS | OUT2 (OUT2 gates the IRQ line).
    a.outb(SERIAL + 1, 0x01).outb(SERIAL + 4, 0x0B);

    // Ready: the boot timer, then the ready line.
    a.outb(0x3f0, 123);
    a.bytes(&[0xBE]).addr32("message"); // mov esi, message
    a.label("print");
    a.bytes(&[0x8A, 0x1E]); // mov bl, [esi]
    a.bytes(&[0x84, 0xDB]).jump8(0x74, "wait_input"); // test bl, bl; jz wait_input
    a.mov_dx(SERIAL + 5);
    a.label("wait_transmit");
    a.bytes(&[0xEC, 0xA8, 0x20]).jump8(0x74, "wait_transmit"); // in al, dx; test al, 0x20; jz
    a.mov_dx(SERIAL).bytes(&[0x88, 0xD8, 0xEE]); // mov al, bl; out dx, al
    a.bytes(&[0x46]).jump8(0xEB, "print"); // inc esi; jmp print

    // Hold: sleep until the serial line has a byte (sti; hlt wakes on IRQ 4).
    a.label("wait_input");
    a.mov_dx(SERIAL + 5);
    a.bytes(&[0xEC, 0xA8, 0x01]).jump8(0x75, "released"); // in al, dx; test al, 1; jnz released
    a.bytes(&[0xFB, 0xF4, 0xFA]).jump8(0xEB, "wait_input"); // sti; hlt; cli; jmp wait_input
    a.label("released");
    a.mov_dx(SERIAL).bytes(&[0xEC]); // in al, dx (consume the byte)
    a.outb(0xf4, 0); // exit device (isobench-vmm, QEMU isa-debug-exit)
    a.outb(0x64, 0xFE); // i8042 reset (Firecracker, Cloud Hypervisor)
    a.label("halt");
    a.bytes(&[0xFA, 0xF4]).jump8(0xEB, "halt"); // cli; hlt; jmp halt

    // IRQ handler: acknowledge at the master PIC and go back to checking the line. It never
    // returns with iret (which software KVM such as kvm_pvm cannot emulate here): the only
    // interrupted code is the `hlt` loop, so it resets the stack and rejoins that loop.
    a.label("irq");
    a.outb(0x20, 0x20); // EOI
    a.bytes(&[0xBC]).imm32(STACK_TOP); // mov esp, STACK_TOP
    a.jump8(0xEB, "wait_input"); // jmp wait_input (IF is clear: the gate cleared it)

    // Data: GDT (null, flat code, flat data), the two descriptor-table pointers, the message.
    a.label("gdt");
    a.bytes(&0u64.to_le_bytes())
        .bytes(&0x00CF_9A00_0000_FFFFu64.to_le_bytes())
        .bytes(&0x00CF_9200_0000_FFFFu64.to_le_bytes());
    a.label("gdt_pointer");
    a.bytes(&(3 * 8 - 1u16).to_le_bytes()).addr32("gdt");
    a.label("idt_pointer");
    a.bytes(&(u16::from(PIC_VECTOR_BASE + 16) * 8 - 1).to_le_bytes())
        .imm32(IDT);
    a.label("message");
    a.bytes(READY_LINE.as_bytes()).bytes(&[0]);

    let data_start = (a.address_of("gdt") - LOAD_ADDRESS) as usize;
    let irq = a.address_of("irq");
    let gate_low = (u32::from(CODE_SELECTOR) << 16) | (irq & 0xFFFF);
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
    use crate::microvm::elf::parse_pvh_entry;

    #[test]
    fn is_a_small_pvh_elf_entering_at_its_load_address() {
        let elf = bare_guest_elf(0);
        assert!(elf.len() < 1024, "{} bytes", elf.len());
        assert_eq!(parse_pvh_entry(&elf), Some(LOAD_ADDRESS));
        assert!(elf
            .windows(READY_LINE.len())
            .any(|w| w == READY_LINE.as_bytes()));
    }

    #[test]
    fn touch_size_is_encoded() {
        let pages = (8u32 * 256).to_le_bytes();
        assert!(bare_guest_elf(8)
            .windows(5)
            .any(|w| w[0] == 0xB9 && w[1..] == pages));
        assert_eq!(min_memory_mib(8), 12);
    }

    #[test]
    fn disassembles_to_the_intended_instructions() {
        let (code, data_start) = code(1);
        let code = &code[..data_start];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("code.bin");
        std::fs::write(&path, code).unwrap();
        let Ok(out) = std::process::Command::new("objdump")
            .args(["-D", "-b", "binary", "-m", "i386", "--adjust-vma=0x100000"])
            .arg(&path)
            .output()
        else {
            eprintln!("SKIP disassembles_to_the_intended_instructions: objdump (binutils) is not installed");
            return;
        };
        let text = String::from_utf8_lossy(&out.stdout);
        for expected in [
            "lgdtl",
            "ljmp   $0x8,$0x10000f",
            "lidtl",
            "rdmsr",
            "wrmsr",
            "out    %al,$0xf4",
            "out    %al,$0x64",
            "sti",
            "hlt",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
        assert!(
            !text.contains("(bad)"),
            "undecodable bytes before the data:\n{text}"
        );
    }
}
