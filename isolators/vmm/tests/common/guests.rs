//! Hand-assembled test guests: a few instructions wrapped in a PVH ELF, a plain ELF64 with a
//! 64-bit entry, or a bzImage. Every guest starts at 1 MiB.

/// Where every test guest's code loads and starts.
pub const LOAD_ADDRESS: u64 = 0x10_0000;

/// Machine code for the few instructions the guests use. The encodings below mean the same
/// in 32-bit protected mode and in 64-bit mode (where `[reg]` is the 64-bit register).
#[derive(Default)]
pub struct Code(pub Vec<u8>);

impl Code {
    fn emit(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.extend_from_slice(bytes);
        self
    }

    /// `mov al, value`
    pub fn mov_al(&mut self, value: u8) -> &mut Self {
        self.emit(&[0xb0, value])
    }

    /// `mov dx, port; out dx, al`
    pub fn out_al(&mut self, port: u16) -> &mut Self {
        let [lo, hi] = port.to_le_bytes();
        self.emit(&[0x66, 0xba, lo, hi, 0xee])
    }

    /// `mov dx, port; in al, dx`
    pub fn in_al(&mut self, port: u16) -> &mut Self {
        let [lo, hi] = port.to_le_bytes();
        self.emit(&[0x66, 0xba, lo, hi, 0xec])
    }

    /// Writes `value` to `port`.
    pub fn out(&mut self, port: u16, value: u8) -> &mut Self {
        self.mov_al(value).out_al(port)
    }

    /// The boot timer: 123 to port 0x3f0.
    pub fn ready(&mut self) -> &mut Self {
        self.out(0x3f0, 123)
    }

    /// Prints AL on the serial port.
    pub fn print_al(&mut self) -> &mut Self {
        self.out_al(0x3f8)
    }

    pub fn print(&mut self, text: &[u8]) -> &mut Self {
        for &byte in text {
            self.out(0x3f8, byte);
        }
        self
    }

    /// `mov eax, [ebx + disp8]` (PVH: ebx points at hvm_start_info).
    pub fn load_eax_from_ebx(&mut self, disp: u8) -> &mut Self {
        self.emit(&[0x8b, 0x43, disp])
    }

    /// `mov eax, [rsi + disp32]` (64-bit: rsi points at the zero page).
    pub fn load_eax_from_rsi(&mut self, disp: u32) -> &mut Self {
        self.emit(&[0x8b, 0x86]).emit(&disp.to_le_bytes())
    }

    /// `mov al, [rsi + disp32]`
    pub fn load_al_from_rsi(&mut self, disp: u32) -> &mut Self {
        self.emit(&[0x8a, 0x86]).emit(&disp.to_le_bytes())
    }

    /// `mov eax, [eax]` (or rax)
    pub fn load_eax_from_eax(&mut self) -> &mut Self {
        self.emit(&[0x8b, 0x00])
    }

    /// `mov al, [eax]` (or rax)
    pub fn load_al_from_eax(&mut self) -> &mut Self {
        self.emit(&[0x8a, 0x00])
    }

    /// `mov dword [address], value` (32-bit protected mode: an absolute address).
    pub fn store32(&mut self, address: u32, value: u32) -> &mut Self {
        self.emit(&[0xc7, 0x05])
            .emit(&address.to_le_bytes())
            .emit(&value.to_le_bytes())
    }

    /// `mov eax, [address]` (32-bit protected mode: an absolute address).
    pub fn load_eax_from(&mut self, address: u32) -> &mut Self {
        self.emit(&[0xa1]).emit(&address.to_le_bytes())
    }

    /// Polls the serial line status until a byte arrives, reads it and prints it back.
    pub fn echo_one_serial_byte(&mut self) -> &mut Self {
        let poll = self.0.len();
        self.in_al(0x3fd).emit(&[0xa8, 0x01]); // test al, 1 (data ready)
        let back = poll as i64 - (self.0.len() as i64 + 2);
        self.emit(&[0x74, back as i8 as u8]); // jz poll
        self.in_al(0x3f8).print_al()
    }

    /// Echoes `count` serial bytes: `mov ecx, count; again: <echo one>; dec ecx; jnz again`.
    pub fn echo_serial_bytes(&mut self, count: u32) -> &mut Self {
        self.emit(&[0xb9]).emit(&count.to_le_bytes());
        let again = self.0.len();
        self.echo_one_serial_byte().emit(&[0xff, 0xc9]);
        let back = again as i64 - (self.0.len() as i64 + 2);
        self.emit(&[0x75, i8::try_from(back).expect("short loop") as u8])
    }

    /// `out 0xf4, al; hlt`: the exit port.
    pub fn exit(&mut self) -> &mut Self {
        self.emit(&[0xe6, 0xf4, 0xf4])
    }

    /// 0xFE to the i8042 command port: reset.
    pub fn i8042_reset(&mut self) -> &mut Self {
        self.out(0x64, 0xfe).emit(&[0xf4])
    }

    /// `ud2` with no usable IDT: #UD, double fault, triple fault.
    pub fn triple_fault(&mut self) -> &mut Self {
        self.emit(&[0x0f, 0x0b])
    }

    pub fn bytes(&self) -> Vec<u8> {
        self.0.clone()
    }
}

fn put<const N: usize>(image: &mut [u8], at: usize, bytes: [u8; N]) {
    image[at..at + N].copy_from_slice(&bytes);
}

/// An ELF64 executable loading `code` at 1 MiB, entered there; with `pvh_note`, a Xen PVH
/// note (XEN_ELFNOTE_PHYS32_ENTRY = 18) names the same address as the 32-bit PVH entry.
pub fn elf64(code: &[u8], pvh_note: bool) -> Vec<u8> {
    const EHDR: usize = 64;
    const PHDR: usize = 56;
    let phnum = if pvh_note { 2 } else { 1 };
    let note_at = EHDR + PHDR * phnum;
    let note_len = if pvh_note { 20 } else { 0 };
    let code_at = (note_at + note_len).next_multiple_of(16);
    let mut image = vec![0u8; code_at + code.len()];
    image[..8].copy_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
    put(&mut image, 0x10, 2u16.to_le_bytes()); // ET_EXEC
    put(&mut image, 0x12, 0x3eu16.to_le_bytes()); // x86-64
    put(&mut image, 0x14, 1u32.to_le_bytes());
    put(&mut image, 0x18, LOAD_ADDRESS.to_le_bytes()); // e_entry
    put(&mut image, 0x20, (EHDR as u64).to_le_bytes()); // e_phoff
    put(&mut image, 0x34, (EHDR as u16).to_le_bytes());
    put(&mut image, 0x36, (PHDR as u16).to_le_bytes());
    put(&mut image, 0x38, (phnum as u16).to_le_bytes());
    let load = EHDR;
    put(&mut image, load, 1u32.to_le_bytes()); // PT_LOAD
    put(&mut image, load + 4, 5u32.to_le_bytes()); // R+X
    put(&mut image, load + 0x08, (code_at as u64).to_le_bytes());
    put(&mut image, load + 0x10, LOAD_ADDRESS.to_le_bytes());
    put(&mut image, load + 0x18, LOAD_ADDRESS.to_le_bytes());
    put(&mut image, load + 0x20, (code.len() as u64).to_le_bytes());
    put(&mut image, load + 0x28, (code.len() as u64).to_le_bytes());
    put(&mut image, load + 0x30, 0x1000u64.to_le_bytes());
    if pvh_note {
        let note = EHDR + PHDR;
        put(&mut image, note, 4u32.to_le_bytes()); // PT_NOTE
        put(&mut image, note + 0x08, (note_at as u64).to_le_bytes());
        put(&mut image, note + 0x20, (note_len as u64).to_le_bytes());
        put(&mut image, note + 0x28, (note_len as u64).to_le_bytes());
        put(&mut image, note + 0x30, 4u64.to_le_bytes());
        put(&mut image, note_at, 4u32.to_le_bytes()); // namesz
        put(&mut image, note_at + 4, 4u32.to_le_bytes()); // descsz
        put(&mut image, note_at + 8, 18u32.to_le_bytes()); // XEN_ELFNOTE_PHYS32_ENTRY
        put(&mut image, note_at + 12, *b"Xen\0");
        put(
            &mut image,
            note_at + 16,
            (LOAD_ADDRESS as u32).to_le_bytes(),
        );
    }
    image[code_at..].copy_from_slice(code);
    image
}

/// A bzImage (boot protocol 2.15, one setup sector) whose protected-mode kernel loads at
/// 1 MiB and has `code64` at its 64-bit entry, +0x200.
pub fn bzimage(code64: &[u8]) -> Vec<u8> {
    const SETUP_BYTES: usize = 2 * 512;
    let protected_len = (0x200 + code64.len()).next_multiple_of(16);
    let mut image = vec![0u8; SETUP_BYTES + protected_len];
    image[0x1f1] = 1; // setup_sects
    put(
        &mut image,
        0x1f4,
        ((protected_len / 16) as u32).to_le_bytes(),
    ); // syssize
    put(&mut image, 0x1fe, 0xaa55u16.to_le_bytes()); // boot_flag
    put(&mut image, 0x202, *b"HdrS");
    put(&mut image, 0x206, 0x020fu16.to_le_bytes()); // version
    image[0x211] = 1; // loadflags: LOADED_HIGH
    put(&mut image, 0x214, (LOAD_ADDRESS as u32).to_le_bytes()); // code32_start
    put(&mut image, 0x22c, 0x7fff_ffffu32.to_le_bytes()); // initrd_addr_max
    put(&mut image, 0x230, 0x20_0000u32.to_le_bytes()); // kernel_alignment
    put(&mut image, 0x236, 1u16.to_le_bytes()); // xloadflags: XLF_KERNEL_64
    put(&mut image, 0x238, 2047u32.to_le_bytes()); // cmdline_size
    put(&mut image, 0x258, LOAD_ADDRESS.to_le_bytes()); // pref_address
    put(&mut image, 0x260, 0x1_0000u32.to_le_bytes()); // init_size
    let entry = SETUP_BYTES + 0x200;
    // Before the entry: ud2 (a triple fault here), so a wrong entry point cannot slide into
    // the code the way it would over zeros.
    for pair in image[SETUP_BYTES..entry].chunks_exact_mut(2) {
        pair.copy_from_slice(&[0x0f, 0x0b]);
    }
    image[entry..entry + code64.len()].copy_from_slice(code64);
    image
}
