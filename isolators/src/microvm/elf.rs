//! Minimal ELF64 writing and reading for PVH guests: one PT_LOAD and the Xen PVH entry note.
//!
//! Loaders differ in how they read the note: linux-loader (Firecracker, Cloud Hypervisor,
//! isobench-vmm) reads a 4-byte entry, QEMU reads a pointer-sized one for ELF64. An 8-byte
//! descriptor, as Linux itself emits, satisfies both.

use isobench_protocol::guest_image::{EM_X86_64, PT_LOAD, PT_NOTE, XEN_ELFNOTE_PHYS32_ENTRY};

const EHDR_SIZE: usize = 64;
const PHDR_SIZE: usize = 56;

/// One loadable segment: its bytes and the memory it occupies (≥ bytes; the rest is zeroed).
pub struct Segment<'a> {
    pub bytes: &'a [u8],
    pub memory_size: u32,
}

/// An ELF64 executable whose single segment loads at `address`, which is also its PVH entry.
pub fn pvh_elf(address: u32, segment: &Segment) -> Vec<u8> {
    let mut note = Vec::new();
    note.extend_from_slice(&4u32.to_le_bytes()); // n_namesz
    note.extend_from_slice(&8u32.to_le_bytes()); // n_descsz
    note.extend_from_slice(&XEN_ELFNOTE_PHYS32_ENTRY.to_le_bytes());
    note.extend_from_slice(b"Xen\0");
    note.extend_from_slice(&u64::from(address).to_le_bytes());
    let note_offset = EHDR_SIZE + 2 * PHDR_SIZE;
    let load_offset = (note_offset + note.len()).next_multiple_of(16);

    let mut elf = Vec::with_capacity(load_offset + segment.bytes.len());
    elf.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]); // ELF64, little-endian, v1
    elf.extend_from_slice(&[0; 8]);
    elf.extend_from_slice(&2u16.to_le_bytes()); // e_type: ET_EXEC
    elf.extend_from_slice(&EM_X86_64.to_le_bytes());
    elf.extend_from_slice(&1u32.to_le_bytes()); // e_version
    elf.extend_from_slice(&u64::from(address).to_le_bytes()); // e_entry
    elf.extend_from_slice(&(EHDR_SIZE as u64).to_le_bytes()); // e_phoff
    elf.extend_from_slice(&0u64.to_le_bytes()); // e_shoff
    elf.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    elf.extend_from_slice(&(EHDR_SIZE as u16).to_le_bytes());
    elf.extend_from_slice(&(PHDR_SIZE as u16).to_le_bytes());
    elf.extend_from_slice(&2u16.to_le_bytes()); // e_phnum
    elf.extend_from_slice(&[0; 6]); // e_shentsize, e_shnum, e_shstrndx
    let phdr = |elf: &mut Vec<u8>,
                kind: u32,
                flags: u32,
                offset: usize,
                address: u64,
                file: usize,
                memory: u64,
                align: u64| {
        elf.extend_from_slice(&kind.to_le_bytes());
        elf.extend_from_slice(&flags.to_le_bytes());
        elf.extend_from_slice(&(offset as u64).to_le_bytes());
        elf.extend_from_slice(&address.to_le_bytes()); // p_vaddr
        elf.extend_from_slice(&address.to_le_bytes()); // p_paddr
        elf.extend_from_slice(&(file as u64).to_le_bytes());
        elf.extend_from_slice(&memory.to_le_bytes());
        elf.extend_from_slice(&align.to_le_bytes());
    };
    let memory = u64::from(segment.memory_size.max(segment.bytes.len() as u32));
    phdr(
        &mut elf,
        PT_LOAD,
        0x7,
        load_offset,
        u64::from(address),
        segment.bytes.len(),
        memory,
        16,
    );
    phdr(
        &mut elf,
        PT_NOTE,
        0x4,
        note_offset,
        0,
        note.len(),
        note.len() as u64,
        4,
    );
    elf.extend_from_slice(&note);
    elf.resize(load_offset, 0);
    elf.extend_from_slice(segment.bytes);
    elf
}

/// One program header of an ELF64 file, as read back by [`program_headers`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramHeader {
    pub kind: u32,
    pub flags: u32,
    pub offset: u64,
    pub virtual_address: u64,
    pub physical_address: u64,
    pub file_size: u64,
    pub memory_size: u64,
    pub align: u64,
}

impl ProgramHeader {
    pub fn is_load(&self) -> bool {
        self.kind == PT_LOAD
    }
    pub fn is_note(&self) -> bool {
        self.kind == PT_NOTE
    }
}

/// `N` bytes of `elf` at `at`, if they are all inside it (offsets come from the file itself:
/// near usize::MAX, `at + N` would overflow).
fn bytes_at<const N: usize>(elf: &[u8], at: usize) -> Option<[u8; N]> {
    elf.get(at..at.checked_add(N)?)?.try_into().ok()
}
fn u16_at(elf: &[u8], at: usize) -> Option<u16> {
    bytes_at(elf, at).map(u16::from_le_bytes)
}
fn u32_at(elf: &[u8], at: usize) -> Option<u32> {
    bytes_at(elf, at).map(u32::from_le_bytes)
}
fn u64_at(elf: &[u8], at: usize) -> Option<u64> {
    bytes_at(elf, at).map(u64::from_le_bytes)
}

/// The program headers of a little-endian x86-64 ELF64 executable; None if it is not one.
pub fn program_headers(elf: &[u8]) -> Option<Vec<ProgramHeader>> {
    if elf.get(..6)? != [0x7f, b'E', b'L', b'F', 2, 1] || u16_at(elf, 0x12)? != EM_X86_64 {
        return None;
    }
    let phoff = usize::try_from(u64_at(elf, 0x20)?).ok()?;
    let (phentsize, phnum) = (
        usize::from(u16_at(elf, 0x36)?),
        usize::from(u16_at(elf, 0x38)?),
    );
    (0..phnum)
        .map(|index| {
            let at = phoff.checked_add(index * phentsize)?;
            let at_plus = |offset: usize| at.checked_add(offset);
            Some(ProgramHeader {
                kind: u32_at(elf, at)?,
                flags: u32_at(elf, at_plus(4)?)?,
                offset: u64_at(elf, at_plus(8)?)?,
                virtual_address: u64_at(elf, at_plus(16)?)?,
                physical_address: u64_at(elf, at_plus(24)?)?,
                file_size: u64_at(elf, at_plus(32)?)?,
                memory_size: u64_at(elf, at_plus(40)?)?,
                align: u64_at(elf, at_plus(48)?)?,
            })
        })
        .collect()
}

/// The ELF header's entry point (e_entry).
pub fn elf_entry(elf: &[u8]) -> Option<u64> {
    program_headers(elf)?;
    u64_at(elf, 0x18)
}

/// The PVH entry address of an ELF64 image, if it has a PVH note (used by tests and checks).
pub fn parse_pvh_entry(elf: &[u8]) -> Option<u32> {
    for header in program_headers(elf)?.iter().filter(|h| h.is_note()) {
        // Offsets and sizes come from the file: every sum that could pass usize::MAX is
        // checked (a note past the end of the file is None, as before).
        let mut at = usize::try_from(header.offset).ok()?;
        let end = at.checked_add(usize::try_from(header.file_size).ok()?)?;
        while at.checked_add(12)? <= end {
            let (name_size, desc_size, kind) = (
                u32_at(elf, at)? as usize,
                u32_at(elf, at + 4)? as usize,
                u32_at(elf, at + 8)?,
            );
            let name = elf.get(at + 12..(at + 12).checked_add(name_size)?)?;
            let desc = (at + 12).checked_add(name_size.next_multiple_of(4))?;
            if kind == XEN_ELFNOTE_PHYS32_ENTRY && name == b"Xen\0" && desc_size >= 4 {
                return u32_at(elf, desc);
            }
            at = desc.checked_add(desc_size.next_multiple_of(4))?;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_the_entry_and_places_the_segment() {
        let code = [0x90u8; 10];
        let elf = pvh_elf(
            0x10_0000,
            &Segment {
                bytes: &code,
                memory_size: 0x2000,
            },
        );
        assert_eq!(parse_pvh_entry(&elf), Some(0x10_0000));
        assert_eq!(
            u16::from_le_bytes([elf[0x38], elf[0x39]]),
            2,
            "two program headers"
        );
        let load_offset =
            u64::from_le_bytes(elf[EHDR_SIZE + 8..EHDR_SIZE + 16].try_into().unwrap()) as usize;
        assert_eq!(&elf[load_offset..], &code);
        let memsz = u64::from_le_bytes(elf[EHDR_SIZE + 40..EHDR_SIZE + 48].try_into().unwrap());
        assert_eq!(memsz, 0x2000);
        assert_eq!(parse_pvh_entry(b"not an elf"), None);
    }
}
