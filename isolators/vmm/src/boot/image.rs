//! The kernel and initrd files, opened and checked before any KVM work: which format the
//! kernel is, whether the file is whole, and whether kernel and initrd fit in guest memory.
//! Every problem found here is one line, on any host, with or without /dev/kvm.
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use linux_loader::loader::bootparam::setup_header;
use vm_memory::ByteValued;

use crate::config::VmConfig;
use crate::error::{Error, Result};
use crate::layout::{low_ram_end, HIGH_MEMORY};

use isobench_protocol::guest_image::{MIB_BYTES, PAGE_BYTES, PT_LOAD};

const MIB: u64 = MIB_BYTES as u64;
const PAGE: u64 = PAGE_BYTES as u64;
/// Where the setup header sits in a bzImage.
const SETUP_HEADER_OFFSET: usize = 0x1f1;
/// The kernel reads initrds only below this address unless its header says otherwise.
const INITRD_ADDR_MAX_DEFAULT: u64 = 0x37ff_ffff;
/// setup_header.loadflags: the protected-mode kernel loads at 1 MiB.
const LOADED_HIGH: u8 = 1;
/// setup_header.xloadflags: the kernel has a 64-bit entry point at +0x200.
const XLF_KERNEL_64: u16 = 1;

/// What kind of kernel the file holds.
pub enum Format {
    /// An ELF64 image: a PVH ELF (Xen note) or a vmlinux with a 64-bit entry.
    Elf,
    /// A bzImage, with its setup header.
    BzImage(setup_header),
}

/// The kernel file, checked.
pub struct KernelImage {
    pub path: PathBuf,
    pub file: File,
    pub format: Format,
    /// First guest-physical address above everything the kernel occupies (for a bzImage,
    /// above the buffer it decompresses itself into).
    pub end: u64,
    /// The file's length.
    pub len_bytes: u64,
}

/// The initrd file, checked, and where it goes: page-aligned at the top of low RAM.
pub struct InitrdImage {
    pub path: PathBuf,
    pub file: File,
    pub size_bytes: u64,
    pub address: u64,
}

/// Everything the guest boots from.
pub struct BootFiles {
    pub kernel: KernelImage,
    pub initrd: Option<InitrdImage>,
}

/// Opens and checks the kernel and initrd named in `config`.
pub fn open(config: &VmConfig) -> Result<BootFiles> {
    let kernel = open_kernel(&config.kernel)?;
    let low_end = low_ram_end(config.mem_bytes());
    let too_small = |initrd_bytes: u64| Error::MemoryTooSmall {
        mem_mib: config.mem_mib,
        kernel_end_mib: kernel.end.div_ceil(MIB),
        initrd_mib: initrd_bytes.div_ceil(MIB),
    };
    if kernel.end > low_end {
        return Err(too_small(0));
    }
    let Some(path) = &config.initrd else {
        return Ok(BootFiles {
            kernel,
            initrd: None,
        });
    };
    let file = File::open(path).map_err(|source| Error::Read {
        path: path.clone(),
        source,
    })?;
    let size_bytes = file
        .metadata()
        .map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?
        .len();
    if size_bytes > config.mem_bytes() {
        return Err(Error::InitrdLargerThanMemory {
            path: path.clone(),
            size_mib: size_bytes.div_ceil(MIB),
            mem_mib: config.mem_mib,
        });
    }
    let address = initrd_address(&kernel, low_end, size_bytes).ok_or(too_small(size_bytes))?;
    Ok(BootFiles {
        kernel,
        initrd: Some(InitrdImage {
            path: path.clone(),
            file,
            size_bytes,
            address,
        }),
    })
}

/// The highest page-aligned address where `size_bytes` fit below both the end of low RAM
/// and the kernel's initrd limit, if that is above the kernel.
pub fn initrd_address(kernel: &KernelImage, low_end: u64, size_bytes: u64) -> Option<u64> {
    let limit = match &kernel.format {
        Format::BzImage(header) if header.initrd_addr_max != 0 => u64::from(header.initrd_addr_max),
        Format::BzImage(_) => INITRD_ADDR_MAX_DEFAULT,
        Format::Elf => u64::from(u32::MAX),
    };
    let top = low_end.min(limit + 1);
    let address = top.checked_sub(size_bytes)? & !(PAGE - 1);
    (address >= kernel.end).then_some(address)
}

fn open_kernel(path: &Path) -> Result<KernelImage> {
    let mut file = File::open(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => Error::KernelMissing(path.to_path_buf()),
        _ => Error::Read {
            path: path.to_path_buf(),
            source,
        },
    })?;
    let read_error = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let len_bytes = file.metadata().map_err(read_error)?.len();
    let mut head = vec![0u8; SETUP_HEADER_OFFSET + std::mem::size_of::<setup_header>()];
    let head_len = read_up_to(&mut file, &mut head).map_err(read_error)?;
    let head = &head[..head_len];
    let (format, end) = if head.starts_with(b"\x7fELF") {
        (Format::Elf, elf_end(&mut file, head, len_bytes, path)?)
    } else if head.len() > 0x206 && &head[0x202..0x206] == b"HdrS" {
        let header = setup_header::from_slice(&head[SETUP_HEADER_OFFSET..])
            .copied()
            .ok_or_else(|| truncated(path, "the bzImage setup header is cut off".into()))?;
        let end = bzimage_end(&header, len_bytes, path)?;
        (Format::BzImage(header), end)
    } else if head.starts_with(b"MZ") && head.len() < 0x206 {
        // An EFI-stub bzImage cut off before its setup header.
        return Err(truncated(
            path,
            format!("only {len_bytes} bytes of a bzImage"),
        ));
    } else {
        return Err(Error::NotAKernel(path.to_path_buf()));
    };
    file.seek(SeekFrom::Start(0)).map_err(read_error)?;
    Ok(KernelImage {
        path: path.to_path_buf(),
        file,
        format,
        end,
        len_bytes,
    })
}

fn truncated(path: &Path, detail: String) -> Error {
    Error::KernelTruncated {
        path: path.to_path_buf(),
        detail,
    }
}

fn unsupported(path: &Path, detail: &str) -> Error {
    Error::KernelUnsupported {
        path: path.to_path_buf(),
        detail: detail.to_string(),
    }
}

/// Reads until `buffer` is full or the file ends; returns how much was read.
fn read_up_to(file: &mut File, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

fn field<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    bytes[at..at + N]
        .try_into()
        .expect("caller checked the length")
}

/// The end of the highest ELF64 PT_LOAD segment, checking every segment is in the file and
/// above 1 MiB (below it the VMM keeps its boot data).
fn elf_end(file: &mut File, head: &[u8], len_bytes: u64, path: &Path) -> Result<u64> {
    if head.len() < 64 {
        return Err(truncated(path, "the ELF header is cut off".into()));
    }
    match head[4] {
        2 => {}
        1 => return Err(unsupported(path, "is a 32-bit ELF — link it as ELF64 (PVH guests too: their code may be 32-bit, the file may not)")),
        _ => return Err(Error::NotAKernel(path.to_path_buf())),
    }
    let phoff = u64::from_le_bytes(field(head, 0x20));
    let phnum = u64::from(u16::from_le_bytes(field(head, 0x38)));
    let mut phdrs = vec![0u8; (phnum * 56) as usize];
    let read = file
        .seek(SeekFrom::Start(phoff))
        .and_then(|_| file.read_exact(&mut phdrs));
    if read.is_err() {
        return Err(truncated(
            path,
            "its ELF program headers are cut off".into(),
        ));
    }
    let mut end = 0;
    for phdr in phdrs.chunks_exact(56) {
        if u32::from_le_bytes(field(phdr, 0)) != PT_LOAD {
            continue;
        }
        let offset = u64::from_le_bytes(field(phdr, 0x08));
        let paddr = u64::from_le_bytes(field(phdr, 0x18));
        let filesz = u64::from_le_bytes(field(phdr, 0x20));
        let memsz = u64::from_le_bytes(field(phdr, 0x28));
        if offset.saturating_add(filesz) > len_bytes {
            return Err(truncated(
                path,
                format!(
                    "an ELF segment ends at byte {} but the file has {len_bytes}",
                    offset.saturating_add(filesz)
                ),
            ));
        }
        if paddr < HIGH_MEMORY {
            return Err(unsupported(
                path,
                "has an ELF segment below 1 MiB, where the VMM keeps its boot data — link it at 1 MiB or above",
            ));
        }
        end = end.max(paddr.saturating_add(memsz));
    }
    Ok(end)
}

/// Checks a bzImage header and returns the end of the memory the kernel needs: the
/// protected-mode code at `code32_start`, and the buffer it decompresses into
/// (`pref_address` + `init_size`).
pub fn bzimage_end(header: &setup_header, len_bytes: u64, path: &Path) -> Result<u64> {
    if header.version < 0x0200 || header.loadflags & LOADED_HIGH == 0 {
        return Err(unsupported(path, "is an old zImage — boot a bzImage"));
    }
    if header.xloadflags & XLF_KERNEL_64 == 0 {
        return Err(unsupported(
            path,
            "is a bzImage without a 64-bit entry point — boot a 64-bit kernel",
        ));
    }
    let setup_sects = match header.setup_sects {
        0 => 4,
        n => u64::from(n),
    };
    let setup_bytes = (setup_sects + 1) * 512;
    let expected = setup_bytes + u64::from(header.syssize) * 16;
    if len_bytes < expected {
        return Err(truncated(
            path,
            format!("the bzImage header promises {expected} bytes but the file has {len_bytes}"),
        ));
    }
    let code_end = u64::from(header.code32_start).max(HIGH_MEMORY) + (len_bytes - setup_bytes);
    let buffer_end = if header.version >= 0x020a {
        header
            .pref_address
            .saturating_add(u64::from(header.init_size))
    } else {
        0
    };
    Ok(code_end.max(buffer_end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> setup_header {
        setup_header {
            setup_sects: 1,
            syssize: 0x100,
            header: 0x5372_6448,
            version: 0x020f,
            loadflags: LOADED_HIGH,
            code32_start: 0x10_0000,
            xloadflags: XLF_KERNEL_64,
            pref_address: 0x100_0000,
            init_size: 0x20_0000,
            initrd_addr_max: 0x7fff_ffff,
            ..Default::default()
        }
    }

    #[test]
    fn bzimage_needs_its_decompression_buffer() {
        let len = 1024 + 0x1000;
        let end = bzimage_end(&header(), len, Path::new("k")).unwrap();
        assert_eq!(end, 0x120_0000, "pref_address + init_size");
        let mut old = header();
        old.version = 0x0209;
        assert_eq!(
            bzimage_end(&old, len, Path::new("k")).unwrap(),
            0x10_0000 + 0x1000
        );
    }

    #[test]
    fn short_bzimage_is_truncated() {
        let error = bzimage_end(&header(), 1024 + 0x100 * 16 - 1, Path::new("k")).unwrap_err();
        assert!(matches!(error, Error::KernelTruncated { .. }), "{error}");
        let mut no64 = header();
        no64.xloadflags = 0;
        let error = bzimage_end(&no64, 1 << 20, Path::new("k")).unwrap_err();
        assert!(error.to_string().contains("64-bit entry"), "{error}");
    }

    #[test]
    fn initrd_goes_to_the_top_of_low_ram_page_aligned_above_the_kernel() {
        let kernel = KernelImage {
            path: "k".into(),
            file: File::open("/dev/null").unwrap(),
            format: Format::BzImage(header()),
            end: 0x120_0000,
            len_bytes: 0,
        };
        let mem = 64 << 20;
        assert_eq!(initrd_address(&kernel, mem, 0x1800), Some(mem - 0x2000));
        assert_eq!(
            initrd_address(&kernel, mem, mem - 0x120_0000),
            Some(0x120_0000)
        );
        assert_eq!(initrd_address(&kernel, mem, mem - 0x120_0000 + 1), None);
        let mut low_limit = header();
        low_limit.initrd_addr_max = 0x1ff_ffff;
        let kernel = KernelImage {
            format: Format::BzImage(low_limit),
            ..kernel
        };
        assert_eq!(initrd_address(&kernel, mem, 0x1000), Some(0x1ff_f000));
    }
}
