//! Synthetic kernels for the kernel-image tests: a payload compressed the way the kernel's
//! build does it, and a minimal bzImage around it, written from the boot protocol's offsets
//! (not from isobench's reader).
use isolators::kernel::Compression;

/// `elf` compressed the way the kernel's build does it, with the decompressed size appended
/// (gzip's trailer already ends with it).
pub fn compress(compression: Compression, elf: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut out = match compression {
        Compression::Gzip => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder.write_all(elf).unwrap();
            return encoder.finish().unwrap();
        }
        Compression::Bzip2 => {
            let mut encoder = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            encoder.write_all(elf).unwrap();
            encoder.finish().unwrap()
        }
        Compression::Xz | Compression::Lzma => {
            use liblzma::stream::{Check, Filters, LzmaOptions, Stream};
            let options = LzmaOptions::new_preset(1).unwrap();
            let stream = if compression == Compression::Xz {
                // As scripts/xz_wrap.sh does for x86: the BCJ filter, then LZMA2, CRC32.
                Stream::new_stream_encoder(Filters::new().x86().lzma2(&options), Check::Crc32)
            } else {
                Stream::new_lzma_encoder(&options)
            }
            .unwrap();
            let mut encoder = liblzma::write::XzEncoder::new_stream(Vec::new(), stream);
            encoder.write_all(elf).unwrap();
            encoder.finish().unwrap()
        }
        Compression::Zstd => {
            ruzstd::encoding::compress_to_vec(elf, ruzstd::encoding::CompressionLevel::Fastest)
        }
        Compression::Lz4 => {
            // The legacy frame of `lz4 -l`: magic, then (length, block) per 8 MiB of input.
            let mut frame = vec![0x02, 0x21, 0x4c, 0x18];
            for chunk in elf.chunks(8 << 20) {
                let block = lz4_flex::block::compress(chunk);
                frame.extend_from_slice(&(block.len() as u32).to_le_bytes());
                frame.extend_from_slice(&block);
            }
            frame
        }
        Compression::Lzo => unreachable!("isobench has no LZO encoder or decoder"),
    };
    out.extend_from_slice(&(elf.len() as u32).to_le_bytes());
    out
}

/// A minimal bzImage around `payload`, written from the boot protocol's offsets (not from
/// isobench's reader): two setup sectors, "HdrS", version 2.15, payload_offset/length.
pub fn bzimage(payload: &[u8]) -> Vec<u8> {
    let setup_sects = 2u8;
    let payload_offset = 0x1234usize;
    let protected_mode = (usize::from(setup_sects) + 1) * 512;
    let mut image = vec![0xccu8; protected_mode + payload_offset];
    image[0x1f1] = setup_sects;
    image[0x1fe..0x200].copy_from_slice(&[0x55, 0xaa]);
    image[0x202..0x206].copy_from_slice(b"HdrS");
    image[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
    image[0x248..0x24c].copy_from_slice(&(payload_offset as u32).to_le_bytes());
    image[0x24c..0x250].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    image.extend_from_slice(payload);
    image.extend_from_slice(&[0; 100]); // what follows the payload in a real bzImage
    image
}
