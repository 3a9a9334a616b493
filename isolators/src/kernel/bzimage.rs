//! The bzImage setup header (x86 boot protocol, Documentation/arch/x86/boot.rst): the boot
//! protocol version and where the compressed kernel (the payload) sits in the file.
//!
//! Read by hand at the documented offsets rather than through linux-loader's `setup_header`:
//! five fields are needed, and that struct would bring vm-memory into this crate.
use std::ops::Range;

/// Where "HdrS" sits; the fields below are offsets into the file (the setup header starts at
/// 0x1f1, right after the legacy boot sector's first bytes).
const MAGIC_AT: usize = 0x202;
const MAGIC: &[u8; 4] = b"HdrS";
const SETUP_SECTS_AT: usize = 0x1f1;
const VERSION_AT: usize = 0x206;
const PAYLOAD_OFFSET_AT: usize = 0x248;
const PAYLOAD_LENGTH_AT: usize = 0x24c;
/// The header through `payload_length`: every field read here.
pub const HEADER_END: usize = PAYLOAD_LENGTH_AT + 4;
/// payload_offset and payload_length exist from boot protocol 2.08 on.
pub const MIN_PROTOCOL: u16 = 0x0208;
const SECTOR: usize = 512;

/// What the setup header says about the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupHeader {
    /// The boot protocol version, major in the high byte (0x020f is 2.15).
    pub protocol: u16,
    /// The compressed kernel's bytes within the file.
    pub payload: Range<usize>,
}

/// Why the first bytes of a file are not a usable setup header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderProblem {
    NotBzImage,
    OldProtocol(u16),
    /// The file ends inside the header.
    Truncated {
        length: usize,
    },
}

/// True when `head` carries the "HdrS" magic of a bzImage.
pub fn has_magic(head: &[u8]) -> bool {
    head.get(MAGIC_AT..MAGIC_AT + 4) == Some(MAGIC)
}

/// Parses the setup header from the first bytes of a file (at least [`HEADER_END`] of them
/// when the file is that long).
pub fn parse(head: &[u8]) -> Result<SetupHeader, HeaderProblem> {
    if !has_magic(head) {
        return Err(HeaderProblem::NotBzImage);
    }
    let u16_at = |at: usize| {
        head.get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |at: usize| {
        head.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let truncated = HeaderProblem::Truncated { length: head.len() };
    let protocol = u16_at(VERSION_AT).ok_or(truncated.clone())?;
    if protocol < MIN_PROTOCOL {
        return Err(HeaderProblem::OldProtocol(protocol));
    }
    // A setup_sects of 0 means 4, for compatibility with the oldest loaders.
    let setup_sects = match head[SETUP_SECTS_AT] {
        0 => 4,
        sects => usize::from(sects),
    };
    let (offset, length) = u32_at(PAYLOAD_OFFSET_AT)
        .zip(u32_at(PAYLOAD_LENGTH_AT))
        .ok_or(truncated)?;
    // payload_offset counts from the protected-mode code, which follows the setup sectors
    // and the boot sector.
    let start = (setup_sects + 1) * SECTOR + offset as usize;
    Ok(SetupHeader {
        protocol,
        payload: start..start + length as usize,
    })
}
