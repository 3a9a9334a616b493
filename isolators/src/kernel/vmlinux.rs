//! The ELF vmlinux a PVH-booting VMM needs, from a bzImage: decompressed in memory, checked
//! (x86-64 ELF with a PVH note), and cached as `<cache>/kernel/vmlinux-<hash of the bzImage>`.
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::bzimage::{self, HeaderProblem};
use super::compression::{self, Compression, DecompressError};
use super::pvh::{self, ElfProblem, ELF_MAGIC};
use super::KernelError;
use crate::Error;

/// Hex digits of the bzImage's SHA-256 in the cached file's name: 64 bits, no collision
/// among the few kernels one cache sees.
const HASH_DIGITS: usize = 16;

/// A kernel a PVH-booting VMM (Firecracker, Cloud Hypervisor) can load: `kernel` itself when
/// it is an x86-64 ELF with a PVH note, else the vmlinux inside the bzImage `kernel`, extracted
/// once into `<cache_dir>/kernel/vmlinux-<hash>` and reused after. `cache_dir` is the isobench
/// cache (see [`super::cache_dir`]).
pub fn vmlinux_for(kernel: &Path, cache_dir: &Path) -> Result<PathBuf, Error> {
    let file = open(kernel)?;
    if read_head(&file, kernel, 4)?.starts_with(ELF_MAGIC) {
        return match pvh::pvh_entry(&object::ReadCache::new(file)) {
            Ok(Some(_)) => Ok(kernel.to_path_buf()),
            Ok(None) => Err(KernelError::NoPvhNote {
                path: kernel.into(),
            }
            .into()),
            Err(problem) => Err(elf_error(kernel, problem).into()),
        };
    }
    let image =
        std::fs::read(kernel).map_err(|e| Error::io(format!("read {}", kernel.display()), e))?;
    // Check the header before hashing: a file that is no kernel gets its error at once.
    setup_header(kernel, &image)?;
    let target = cache_dir
        .join("kernel")
        .join(format!("vmlinux-{}", image_hash(&image)));
    if target.is_file() {
        return Ok(target);
    }
    let vmlinux = extract_vmlinux(kernel, &image)?;
    write_atomically(&target, &vmlinux)?;
    Ok(target)
}

/// The ELF vmlinux inside the bzImage `image` (read from `kernel`, named in errors), checked
/// to be an x86-64 ELF with a PVH note. Nothing is written.
pub fn extract_vmlinux(kernel: &Path, image: &[u8]) -> Result<Vec<u8>, KernelError> {
    let header = setup_header(kernel, image)?;
    let payload = image
        .get(header.payload.clone())
        .ok_or_else(|| KernelError::Truncated {
            path: kernel.into(),
            detail: format!(
                "the header puts the compressed kernel at bytes {}..{} but the file has {}",
                header.payload.start,
                header.payload.end,
                image.len()
            ),
        })?;
    let compression =
        Compression::detect(payload).ok_or_else(|| KernelError::UnknownCompression {
            path: kernel.into(),
            magic: hex(&payload[..payload.len().min(6)]),
        })?;
    let corrupt = |detail: String| KernelError::Corrupt {
        path: kernel.into(),
        compression,
        detail,
    };
    // The kernel's build appends the decompressed size, little-endian, to every payload
    // (gzip's own trailer ends with it too).
    let size_field = payload
        .len()
        .checked_sub(4)
        .map(|at| u32::from_le_bytes(payload[at..].try_into().expect("4 bytes")) as usize)
        .ok_or_else(|| corrupt(format!("only {} bytes long", payload.len())))?;
    let vmlinux =
        compression::decompress(compression, payload, size_field).map_err(|e| match e {
            DecompressError::Unsupported => KernelError::UnsupportedCompression {
                path: kernel.into(),
                compression,
            },
            DecompressError::Corrupt(detail) => corrupt(detail),
        })?;
    if vmlinux.len() != size_field {
        return Err(corrupt(format!(
            "it decompresses to {} bytes, its size field says {size_field}",
            vmlinux.len()
        )));
    }
    match pvh::pvh_entry(&vmlinux[..]) {
        Ok(Some(_)) => Ok(vmlinux),
        Ok(None) => Err(KernelError::NoPvhNote {
            path: kernel.into(),
        }),
        Err(ElfProblem::NotElf) => Err(corrupt(
            "it decompresses to something that is not an ELF file".into(),
        )),
        Err(problem) => Err(elf_error(kernel, problem)),
    }
}

/// Writes `bytes` to `target` so that `target` is either absent or complete: a temporary file
/// beside it, renamed over it. Creates the directory; the file is world-readable like the rest
/// of the cache.
pub fn write_atomically(target: &Path, bytes: &[u8]) -> Result<(), Error> {
    let what = |action: &str| format!("{action} {}", target.display());
    let dir = target.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(what("create the directory of"), e))?;
    // Owner-tagged (see crate::orphans), so a later isobench removes it if this one is killed.
    let prefix = format!(
        "{}{}-",
        crate::orphans::PARTIAL_PREFIX,
        crate::orphans::Owner::current().tag()
    );
    let mut temp = tempfile::Builder::new()
        .prefix(&prefix)
        .tempfile_in(dir)
        .map_err(|e| Error::io(what("create a temporary file for"), e))?;
    temp.write_all(bytes)
        .and_then(|()| {
            temp.as_file()
                .set_permissions(PermissionsExt::from_mode(0o644))
        })
        .map_err(|e| Error::io(what("write"), e))?;
    temp.persist(target)
        .map_err(|e| Error::io(what("rename into place"), e.error))?;
    Ok(())
}

/// The first 16 hex digits of the SHA-256 of `image` (sha2: RustCrypto's, the common choice;
/// std's hashers are not stable across Rust releases, which would orphan cached files).
pub fn image_hash(image: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(image);
    digest[..HASH_DIGITS / 2]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(super) fn setup_header(
    kernel: &Path,
    head: &[u8],
) -> Result<bzimage::SetupHeader, KernelError> {
    bzimage::parse(head).map_err(|problem| match problem {
        HeaderProblem::NotBzImage => KernelError::NotAKernel {
            path: kernel.into(),
        },
        HeaderProblem::OldProtocol(protocol) => KernelError::OldBootProtocol {
            path: kernel.into(),
            protocol,
        },
        HeaderProblem::Truncated { length } => KernelError::Truncated {
            path: kernel.into(),
            detail: format!("the file ends at byte {length}, inside the bzImage setup header"),
        },
    })
}

pub(super) fn elf_error(kernel: &Path, problem: ElfProblem) -> KernelError {
    let path = kernel.into();
    match problem {
        ElfProblem::NotElf => KernelError::NotAKernel { path },
        ElfProblem::NotX86_64(what) => KernelError::NotX86_64 { path, what },
        ElfProblem::Malformed(detail) => KernelError::BadElf { path, detail },
    }
}

pub(super) fn open(kernel: &Path) -> Result<File, Error> {
    File::open(kernel).map_err(|e| Error::io(format!("open the kernel {}", kernel.display()), e))
}

/// Up to `length` bytes from the start of `file` (fewer when it is shorter).
pub(super) fn read_head(file: &File, kernel: &Path, length: usize) -> Result<Vec<u8>, Error> {
    read_at(file, kernel, 0, length)
}

/// Up to `length` bytes of `file` from `offset` (fewer at its end).
pub(super) fn read_at(
    file: &File,
    kernel: &Path,
    offset: u64,
    length: usize,
) -> Result<Vec<u8>, Error> {
    let mut buffer = vec![0; length];
    let mut filled = 0;
    while filled < length {
        match file.read_at(&mut buffer[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(format!("read {}", kernel.display()), e)),
        }
    }
    buffer.truncate(filled);
    Ok(buffer)
}

/// Bytes as space-separated hex pairs: "02 21 4c 18".
fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}
