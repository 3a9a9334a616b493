//! A tiny 32-bit x86 emitter with labels: just the instructions the bare guest needs.
use std::collections::HashMap;

enum Fixup {
    /// A rel8 jump displacement, relative to the byte after it.
    Rel8,
    /// An absolute 32-bit guest-physical address of a label.
    Abs32,
}

/// Emits machine code for code loaded at `base` (guest-physical).
pub struct Asm {
    base: u32,
    code: Vec<u8>,
    labels: HashMap<&'static str, usize>,
    fixups: Vec<(usize, &'static str, Fixup)>,
}

impl Asm {
    pub fn new(base: u32) -> Asm {
        Asm {
            base,
            code: Vec::new(),
            labels: HashMap::new(),
            fixups: Vec::new(),
        }
    }

    pub fn label(&mut self, name: &'static str) -> &mut Self {
        let previous = self.labels.insert(name, self.code.len());
        assert!(previous.is_none(), "label {name} defined twice");
        self
    }

    pub fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        self.code.extend_from_slice(bytes);
        self
    }

    pub fn imm32(&mut self, value: u32) -> &mut Self {
        self.bytes(&value.to_le_bytes())
    }

    /// A 4-byte absolute address of `label`, patched in `finish`.
    pub fn addr32(&mut self, label: &'static str) -> &mut Self {
        self.fixups.push((self.code.len(), label, Fixup::Abs32));
        self.imm32(0)
    }

    /// `opcode rel8` (jmp EB, jz 74, jnz 75) to `label`.
    pub fn jump8(&mut self, opcode: u8, label: &'static str) -> &mut Self {
        self.code.push(opcode);
        self.fixups.push((self.code.len(), label, Fixup::Rel8));
        self.bytes(&[0])
    }

    /// `mov al, imm8`.
    pub fn mov_al(&mut self, value: u8) -> &mut Self {
        self.bytes(&[0xB0, value])
    }

    /// `mov dx, imm16`.
    pub fn mov_dx(&mut self, port: u16) -> &mut Self {
        self.bytes(&[0x66, 0xBA]).bytes(&port.to_le_bytes())
    }

    /// `out imm8, al` for ports below 0x100.
    pub fn out_imm(&mut self, port: u8) -> &mut Self {
        self.bytes(&[0xE6, port])
    }

    /// `mov al, value; out port, al` for any port (via dx when it does not fit a byte).
    pub fn outb(&mut self, port: u16, value: u8) -> &mut Self {
        self.mov_al(value);
        match u8::try_from(port) {
            Ok(short) => self.out_imm(short),
            Err(_) => self.mov_dx(port).bytes(&[0xEE]),
        }
    }

    /// `mov dword [address], value`: a 32-bit store to an absolute address (MMIO registers).
    pub fn store32(&mut self, address: u32, value: u32) -> &mut Self {
        self.bytes(&[0xC7, 0x05]).imm32(address).imm32(value)
    }

    /// `mov eax, [address]`: a 32-bit load from an absolute address.
    pub fn load_eax(&mut self, address: u32) -> &mut Self {
        self.bytes(&[0xA1]).imm32(address)
    }

    /// `mov [address], eax`: a 32-bit store of eax to an absolute address.
    pub fn store_eax(&mut self, address: u32) -> &mut Self {
        self.bytes(&[0xA3]).imm32(address)
    }

    /// The guest-physical address of a label, once defined.
    pub fn address_of(&self, label: &'static str) -> u32 {
        self.base
            + *self
                .labels
                .get(label)
                .unwrap_or_else(|| panic!("label {label} is not defined")) as u32
    }

    pub fn here(&self) -> u32 {
        self.base + self.code.len() as u32
    }

    /// Resolves every label reference and returns the code.
    pub fn finish(mut self) -> Vec<u8> {
        for (at, label, kind) in std::mem::take(&mut self.fixups) {
            let target = *self
                .labels
                .get(label)
                .unwrap_or_else(|| panic!("label {label} is not defined"));
            match kind {
                Fixup::Rel8 => {
                    let displacement = target as i64 - (at as i64 + 1);
                    let byte = i8::try_from(displacement)
                        .unwrap_or_else(|_| panic!("jump to {label} is out of rel8 range"));
                    self.code[at] = byte as u8;
                }
                Fixup::Abs32 => {
                    let address = self.base + target as u32;
                    self.code[at..at + 4].copy_from_slice(&address.to_le_bytes());
                }
            }
        }
        self.code
    }
}
