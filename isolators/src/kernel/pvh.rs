//! Whether an ELF file is an x86-64 kernel and where its PVH entry is: the
//! XEN_ELFNOTE_PHYS32_ENTRY note (name "Xen", type 18) in a PT_NOTE segment, which
//! Firecracker, Cloud Hypervisor and qemu need to boot an uncompressed vmlinux.
//!
//! Parsed with the `object` crate (the gimli project's, which std's backtraces use): it
//! checks every offset and size of untrusted input, and over a `ReadCache` it reads only the
//! headers and notes of a file, not a whole debug vmlinux.
use object::elf::{FileHeader64, NoteType, ELFCLASS64, ELFDATA2LSB, EM_X86_64};
use object::read::elf::{FileHeader, ProgramHeader};
use object::{Endianness, ReadRef};

pub use isobench_protocol::guest_image::{XEN_ELFNOTE_PHYS32_ENTRY, XEN_NOTE_NAME};
pub const ELF_MAGIC: &[u8; 4] = b"\x7fELF";

/// Why an ELF file is not an x86-64 kernel whose notes can be read.
#[derive(Debug, PartialEq, Eq)]
pub enum ElfProblem {
    NotElf,
    /// A class, byte order or machine other than 64-bit little-endian x86-64.
    NotX86_64(String),
    /// Headers or notes point outside the file.
    Malformed(String),
}

/// The PVH entry address of the x86-64 ELF in `data`, `None` when it has no PVH note.
pub fn pvh_entry<'data, R: ReadRef<'data>>(data: R) -> Result<Option<u32>, ElfProblem> {
    let ident = data.read_bytes_at(0, 16).map_err(|()| ElfProblem::NotElf)?;
    if !ident.starts_with(ELF_MAGIC) {
        return Err(ElfProblem::NotElf);
    }
    if ident[4] != ELFCLASS64.0 || ident[5] != ELFDATA2LSB.0 {
        return Err(ElfProblem::NotX86_64(format!(
            "an ELF file of class {} and byte order {}",
            ident[4], ident[5]
        )));
    }
    let malformed = |e: object::read::Error| ElfProblem::Malformed(e.to_string());
    let header = FileHeader64::<Endianness>::parse(data).map_err(malformed)?;
    let endian = header.endian().map_err(malformed)?;
    let machine = header.e_machine(endian);
    if machine != EM_X86_64 {
        return Err(ElfProblem::NotX86_64(format!(
            "an ELF file for machine {}",
            machine.0
        )));
    }
    for segment in header.program_headers(endian, data).map_err(malformed)? {
        let Some(mut notes) = segment.notes(endian, data).map_err(malformed)? else {
            continue;
        };
        while let Some(note) = notes.next().map_err(malformed)? {
            if note.name() == XEN_NOTE_NAME
                && note.n_type(endian) == NoteType(XEN_ELFNOTE_PHYS32_ENTRY)
            {
                // Linux writes a pointer-sized descriptor; the entry is its low 32 bits.
                let desc = note.desc();
                return match desc.get(..4) {
                    Some(low) => Ok(Some(u32::from_le_bytes([low[0], low[1], low[2], low[3]]))),
                    None => Err(ElfProblem::Malformed(format!(
                        "its PVH note has a {}-byte descriptor, too short for an address",
                        desc.len()
                    ))),
                };
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::microvm::elf::{pvh_elf, Segment};

    #[test]
    fn finds_the_entry_of_a_pvh_elf_and_tells_what_else_is_wrong() {
        let elf = pvh_elf(
            0x10_0000,
            &Segment {
                bytes: &[0x90; 16],
                memory_size: 16,
            },
        );
        assert_eq!(pvh_entry(&elf[..]), Ok(Some(0x10_0000)));
        let mut other_note = elf.clone();
        let name_at = other_note.windows(4).position(|w| w == b"Xen\0").unwrap();
        other_note[name_at - 4] = 17;
        assert_eq!(pvh_entry(&other_note[..]), Ok(None));
        let mut arm = elf.clone();
        arm[0x12] = 183; // EM_AARCH64
        assert!(matches!(pvh_entry(&arm[..]), Err(ElfProblem::NotX86_64(_))));
        assert_eq!(pvh_entry(&b"MZ not elf"[..]), Err(ElfProblem::NotElf));
        assert!(matches!(
            pvh_entry(&elf[..70]),
            Err(ElfProblem::Malformed(_))
        ));
    }
}
