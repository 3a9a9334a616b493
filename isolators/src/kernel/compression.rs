//! The compressions a bzImage payload may use (CONFIG_KERNEL_*), told apart by their magic
//! bytes, and their decompression.
//!
//! Crates, all kept by active maintainers and used widely: flate2 (gzip, pure-Rust
//! miniz_oxide backend), bzip2 (the pure-Rust libbz2-rs port by default), liblzma (xz-utils
//! itself, built in statically: the kernel's xz payload uses the x86 BCJ filter, which the
//! pure-Rust xz decoders lack; it also reads the legacy .lzma format), ruzstd (pure-Rust
//! zstd decoder, no C build on a 2-core host) and lz4_flex (the LZ4 blocks; the kernel uses
//! the *legacy* LZ4 frame, a magic and length-prefixed blocks, which no crate reads, so the
//! few lines that walk it are here).
use std::io::Read;

/// A payload compression, as the kernel's build names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    Gzip,
    Bzip2,
    Lzma,
    Xz,
    Lzo,
    Lz4,
    Zstd,
}

/// The LZ4 legacy frame: this magic, then blocks of (little-endian u32 length, LZ4 block),
/// each decompressing to at most 8 MiB; the magic may reappear between blocks.
const LZ4_LEGACY_MAGIC: [u8; 4] = [0x02, 0x21, 0x4c, 0x18];
const LZ4_LEGACY_BLOCK: usize = 8 << 20;

/// The most memory liblzma may take to decode one lzma or xz payload. The stream's header
/// names its dictionary size and liblzma allocates it up front: fuzz_kernel_image found a
/// 1,114-byte bzImage whose lzma header asked for 3.2 GiB. Kernel builds use dictionaries of
/// tens of MiB (xz_wrap.sh: 32 MiB), so this refuses only what no kernel needs.
const LZMA_MEMORY_LIMIT_BYTES: u64 = 256 << 20;

impl Compression {
    /// Every compression, in the order [`Compression::detect`] tries them.
    pub const ALL: [Compression; 7] = [
        Compression::Gzip,
        Compression::Bzip2,
        Compression::Lzma,
        Compression::Xz,
        Compression::Lzo,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// The leading bytes that identify this compression (those lib/decompress.c checks).
    pub fn magic(self) -> &'static [u8] {
        match self {
            Compression::Gzip => &[0x1f, 0x8b],
            Compression::Bzip2 => b"BZh",
            Compression::Lzma => &[0x5d, 0x00, 0x00],
            Compression::Xz => &[0xfd, b'7', b'z', b'X', b'Z', 0x00],
            Compression::Lzo => &[0x89, b'L', b'Z', b'O', 0x00, 0x0d, 0x0a, 0x1a, 0x0a],
            Compression::Lz4 => &LZ4_LEGACY_MAGIC,
            Compression::Zstd => &[0x28, 0xb5, 0x2f, 0xfd],
        }
    }

    /// The compression whose magic `payload` starts with.
    pub fn detect(payload: &[u8]) -> Option<Compression> {
        Self::ALL
            .into_iter()
            .find(|c| payload.starts_with(c.magic()))
    }

    /// The name the kernel's configuration uses (CONFIG_KERNEL_<NAME>, lowercase).
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Bzip2 => "bzip2",
            Compression::Lzma => "lzma",
            Compression::Xz => "xz",
            Compression::Lzo => "lzo",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a payload did not decompress.
#[derive(Debug)]
pub enum DecompressError {
    /// isobench has no decoder for this compression.
    Unsupported,
    /// The decoder rejected the data; the text says where or how.
    Corrupt(String),
}

/// Decompresses the stream at the start of `data`, reading past its end nothing but what the
/// format ignores (the kernel's build appends the decompressed size to every payload), and
/// giving up past `limit` bytes of output (so a corrupt length cannot exhaust memory).
pub fn decompress(
    compression: Compression,
    data: &[u8],
    limit: usize,
) -> Result<Vec<u8>, DecompressError> {
    // Every decoder below decodes one stream and stops at its end.
    let reader: Box<dyn Read + '_> = match compression {
        Compression::Gzip => Box::new(flate2::read::GzDecoder::new(data)),
        Compression::Bzip2 => Box::new(bzip2::read::BzDecoder::new(data)),
        Compression::Xz | Compression::Lzma => {
            use liblzma::stream::Stream;
            let stream = if compression == Compression::Xz {
                Stream::new_stream_decoder(LZMA_MEMORY_LIMIT_BYTES, 0)
            } else {
                Stream::new_lzma_decoder(LZMA_MEMORY_LIMIT_BYTES)
            }
            .map_err(|e| DecompressError::Corrupt(e.to_string()))?;
            Box::new(liblzma::read::XzDecoder::new_stream(data, stream))
        }
        Compression::Zstd => Box::new(
            ruzstd::decoding::StreamingDecoder::new(data)
                .map_err(|e| DecompressError::Corrupt(e.to_string()))?,
        ),
        Compression::Lz4 => return lz4_legacy(data, limit),
        Compression::Lzo => return Err(DecompressError::Unsupported),
    };
    let mut out = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| {
            let lzma_error = e.get_ref().and_then(|inner| inner.downcast_ref());
            DecompressError::Corrupt(match lzma_error {
                Some(liblzma::stream::Error::MemLimit) => format!(
                    "its header asks for more memory than the {} MiB isobench gives the decoder",
                    LZMA_MEMORY_LIMIT_BYTES >> 20
                ),
                _ => e.to_string(),
            })
        })?;
    Ok(out)
}

/// Walks an LZ4 legacy frame. The kernel's payload is exactly the frame followed by the
/// 4-byte size, so the walk ends where fewer than a block header and one byte remain.
fn lz4_legacy(data: &[u8], limit: usize) -> Result<Vec<u8>, DecompressError> {
    let corrupt = |at: usize, what: &str| DecompressError::Corrupt(format!("{what} at byte {at}"));
    let mut out = Vec::new();
    let mut at = LZ4_LEGACY_MAGIC.len();
    while data.len() - at > 4 {
        let word = [data[at], data[at + 1], data[at + 2], data[at + 3]];
        at += 4;
        if word == LZ4_LEGACY_MAGIC {
            continue;
        }
        let length = u32::from_le_bytes(word) as usize;
        let block = data
            .get(at..at.saturating_add(length))
            .ok_or_else(|| corrupt(at - 4, "a block longer than the payload"))?;
        if out.len() > limit {
            return Err(corrupt(
                at - 4,
                "more output than the payload's size field says",
            ));
        }
        let start = out.len();
        out.resize(start + LZ4_LEGACY_BLOCK, 0);
        let written = lz4_flex::block::decompress_into(block, &mut out[start..])
            .map_err(|e| corrupt(at - 4, &format!("bad LZ4 block ({e})")))?;
        out.truncate(start + written);
        at += length;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_magic_and_nothing_else() {
        for compression in Compression::ALL {
            let mut payload = compression.magic().to_vec();
            payload.extend_from_slice(b"rest");
            assert_eq!(Compression::detect(&payload), Some(compression));
        }
        assert_eq!(Compression::detect(b"\x7fELF"), None);
        assert_eq!(Compression::detect(b""), None);
    }

    #[test]
    fn a_header_asking_for_gigabytes_is_refused_not_allocated() {
        // .lzma header: properties, a 3 GiB dictionary, unknown size; then a few bytes.
        let mut payload = vec![0x5d, 0x00, 0x00, 0x00, 0xc0];
        payload.extend_from_slice(&[0xff; 8]);
        payload.extend_from_slice(&[0; 32]);
        let Err(DecompressError::Corrupt(detail)) =
            decompress(Compression::Lzma, &payload, 1 << 30)
        else {
            panic!("a 3 GiB dictionary was accepted");
        };
        assert!(detail.contains("256 MiB"), "{detail}");
    }

    #[test]
    fn lz4_legacy_frames_round_trip_across_blocks() {
        let data: Vec<u8> = (0..LZ4_LEGACY_BLOCK + 1000)
            .map(|i| (i / 7) as u8)
            .collect();
        let mut frame = LZ4_LEGACY_MAGIC.to_vec();
        for chunk in data.chunks(LZ4_LEGACY_BLOCK) {
            let block = lz4_flex::block::compress(chunk);
            frame.extend_from_slice(&(block.len() as u32).to_le_bytes());
            frame.extend_from_slice(&block);
        }
        frame.extend_from_slice(&(data.len() as u32).to_le_bytes());
        let out = decompress(Compression::Lz4, &frame, data.len()).unwrap();
        assert!(out == data, "the frame decompresses to what was compressed");
        let cut = &frame[..frame.len() / 2];
        assert!(matches!(
            decompress(Compression::Lz4, cut, data.len()),
            Err(DecompressError::Corrupt(_))
        ));
    }
}
