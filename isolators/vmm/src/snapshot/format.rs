//! The snapshot state file: a fixed little-endian header (magic, format and VMM version, guest
//! memory size, state length and CRC-32, memory checksum) and the state body, a sequence of
//! the kernel's own KVM structs as bytes.
//!
//! Why no general serializer: the state is a dozen fixed-size KVM ABI structs (`kvm_regs`,
//! `kvm_sregs`, `kvm_xsave`, ...) plus two arrays of them and the serial port's registers.
//! kvm-bindings' `serde` feature derives zerocopy's `IntoBytes`/`FromBytes` for exactly those
//! structs, so each is written as its bytes and read back with a length check, without unsafe
//! code; a serializer (bincode, postcard) would only wrap the same byte arrays. Compatibility is
//! all-or-nothing: a snapshot restores only in the VMM version that wrote it (the header says
//! which), which is what a benchmark that prepares its snapshot in the same run needs.
use std::path::Path;

use zerocopy::{FromBytes, Immutable, IntoBytes};

use crate::error::{Error, Result};

/// The first eight bytes of every state file.
pub const MAGIC: [u8; 8] = *b"ISOBVMSN";
/// Bumped whenever the body's layout changes.
pub const FORMAT_VERSION: u32 = 2;
/// The VMM version that writes and accepts snapshots.
pub const VMM_VERSION: &str = env!("CARGO_PKG_VERSION");
const VERSION_FIELD_BYTES: usize = 32;
/// Bytes of the header: magic, format, VMM version, memory, state length, two CRCs.
pub const HEADER_BYTES: usize = 8 + 4 + VERSION_FIELD_BYTES + 8 + 8 + 4 + 4;

/// What the header says about the snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub format_version: u32,
    pub vmm_version: String,
    pub mem_bytes: u64,
    pub state_len_bytes: u64,
    pub state_crc32: u32,
    /// [`super::memory_file::checksum`] of guest RAM when it was written.
    pub memory_crc32: u32,
}

impl Header {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_BYTES);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&self.format_version.to_le_bytes());
        let mut version = [0u8; VERSION_FIELD_BYTES];
        let len = self.vmm_version.len().min(VERSION_FIELD_BYTES);
        version[..len].copy_from_slice(&self.vmm_version.as_bytes()[..len]);
        out.extend_from_slice(&version);
        out.extend_from_slice(&self.mem_bytes.to_le_bytes());
        out.extend_from_slice(&self.state_len_bytes.to_le_bytes());
        out.extend_from_slice(&self.state_crc32.to_le_bytes());
        out.extend_from_slice(&self.memory_crc32.to_le_bytes());
        out
    }

    /// Reads and checks the header of `file` (its path for messages): the magic, then the
    /// format and VMM versions. Every refusal is one line saying what to do.
    pub fn parse(bytes: &[u8], file: &Path) -> Result<Header> {
        let bad = |detail: String| Error::Snapshot {
            path: file.to_path_buf(),
            detail,
        };
        if bytes.len() < HEADER_BYTES {
            return Err(bad(format!(
                "truncated: {} bytes, shorter than its {HEADER_BYTES}-byte header — take the snapshot again",
                bytes.len()
            )));
        }
        if bytes[..8] != MAGIC {
            return Err(bad(
                "not an isobench-vmm snapshot (bad magic) — pass the state file a --snapshot run wrote".into(),
            ));
        }
        let mut reader = Reader::new(&bytes[8..HEADER_BYTES]);
        let format_version = u32::from_le_bytes(reader.array()?);
        let version: [u8; VERSION_FIELD_BYTES] = reader.array()?;
        let end = version
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(version.len());
        let vmm_version = String::from_utf8_lossy(&version[..end]).into_owned();
        if format_version != FORMAT_VERSION || vmm_version != VMM_VERSION {
            return Err(bad(format!(
                "written by isobench-vmm {vmm_version} (format {format_version}), this is {VMM_VERSION} (format {FORMAT_VERSION}) — take the snapshot again with this VMM"
            )));
        }
        Ok(Header {
            format_version,
            vmm_version,
            mem_bytes: u64::from_le_bytes(reader.array()?),
            state_len_bytes: u64::from_le_bytes(reader.array()?),
            state_crc32: u32::from_le_bytes(reader.array()?),
            memory_crc32: u32::from_le_bytes(reader.array()?),
        })
    }
}

/// Appends values to a state body.
#[derive(Default)]
pub struct Writer {
    pub bytes: Vec<u8>,
}

impl Writer {
    /// One KVM struct, as its bytes.
    pub fn put<T: IntoBytes + Immutable>(&mut self, value: &T) {
        self.bytes.extend_from_slice(value.as_bytes());
    }

    /// A count, then each item's bytes.
    pub fn put_slice<T: IntoBytes + Immutable>(&mut self, items: &[T]) {
        self.put(&(items.len() as u32));
        for item in items {
            self.put(item);
        }
    }
}

/// Takes values off a state body in the order [`Writer`] put them.
pub struct Reader<'a> {
    bytes: &'a [u8],
}

/// The state body ended early or held a count too large: the file is damaged.
fn short() -> Error {
    Error::SnapshotState("the state body ends early".into())
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes }
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8]> {
        if self.bytes.len() < len {
            return Err(short());
        }
        let (head, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(head)
    }

    pub fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// One KVM struct.
    pub fn get<T: FromBytes>(&mut self) -> Result<T> {
        T::read_from_bytes(self.take(size_of::<T>())?).map_err(|_| short())
    }

    /// A count, then that many items.
    pub fn get_vec<T: FromBytes>(&mut self) -> Result<Vec<T>> {
        let count = self.get::<u32>()? as usize;
        if count.saturating_mul(size_of::<T>()) > self.bytes.len() {
            return Err(short());
        }
        (0..count).map(|_| self.get()).collect()
    }

    /// Whether every byte was read: a longer body is not one this VMM wrote.
    pub fn finish(self) -> Result<()> {
        match self.bytes.len() {
            0 => Ok(()),
            extra => Err(Error::SnapshotState(format!(
                "{extra} bytes left over after the state"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            format_version: FORMAT_VERSION,
            vmm_version: VMM_VERSION.into(),
            mem_bytes: 16 << 20,
            state_len_bytes: 5000,
            state_crc32: 0xdead_beef,
            memory_crc32: 7,
        }
    }

    #[test]
    fn the_header_reads_back_as_written() {
        let bytes = header().to_bytes();
        assert_eq!(bytes.len(), HEADER_BYTES);
        assert_eq!(Header::parse(&bytes, Path::new("s")).unwrap(), header());
    }

    #[test]
    fn bad_headers_are_refused_in_one_line() {
        let path = Path::new("vm.state");
        let message = |bytes: &[u8]| Header::parse(bytes, path).unwrap_err().to_string();
        assert!(message(&header().to_bytes()[..20]).contains("truncated"));
        let mut other = header().to_bytes();
        other[0] ^= 0xff;
        assert!(message(&other).contains("bad magic"));
        let older = Header {
            vmm_version: "0.0.1".into(),
            ..header()
        };
        let text = message(&older.to_bytes());
        assert!(
            text.contains("isobench-vmm 0.0.1") && text.contains(VMM_VERSION),
            "{text}"
        );
        let newer_format = Header {
            format_version: FORMAT_VERSION + 1,
            ..header()
        };
        assert!(message(&newer_format.to_bytes()).contains("take the snapshot again"));
        for text in [message(&other), text] {
            assert!(!text.contains('\n'), "{text}");
        }
    }

    #[test]
    fn the_body_reads_back_and_refuses_short_input() {
        let mut writer = Writer::default();
        writer.put(&kvm_bindings::kvm_regs {
            rip: 0x10_0042,
            ..Default::default()
        });
        writer.put_slice(&[1u64, 2, 3]);
        let mut reader = Reader::new(&writer.bytes);
        assert_eq!(
            reader.get::<kvm_bindings::kvm_regs>().unwrap().rip,
            0x10_0042
        );
        assert_eq!(reader.get_vec::<u64>().unwrap(), vec![1, 2, 3]);
        reader.finish().unwrap();
        let cut = &writer.bytes[..writer.bytes.len() - 1];
        let mut reader = Reader::new(cut);
        reader.get::<kvm_bindings::kvm_regs>().unwrap();
        assert!(reader.get_vec::<u64>().is_err());
    }
}
