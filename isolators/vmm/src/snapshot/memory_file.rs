//! Guest RAM in a snapshot: written to a sparse file (pages that are all zero stay holes, so
//! the bare guest's 128 MiB take a few KiB of disk), mapped back `MAP_PRIVATE` as a restored
//! guest's RAM (copy-on-write: pages are read from the page cache when the guest first touches
//! them, and copied only when it writes; nothing is read or zeroed up front), and checksummed.
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use vm_memory::mmap::MmapRegionBuilder;
use vm_memory::{
    Address, Bytes, FileOffset, GuestAddress, GuestMemoryBackend, GuestMemoryMmap,
    GuestMemoryRegion, GuestRegionMmap,
};

use crate::error::{Error, Result};
use crate::layout::ram_regions;
use crate::memory::GuestRam;

const PAGE_BYTES: usize = 4096;
/// Contiguous non-zero pages are written with one `pwrite` of up to this much.
const WRITE_RUN_BYTES: usize = 1 << 20;

fn io_error(what: &'static str) -> impl Fn(std::io::Error) -> Error {
    move |source| Error::Host { what, source }
}

/// Visits each non-zero 4 KiB page of guest RAM with its offset in the memory file (regions
/// laid end to end, in guest-physical order).
fn for_each_nonzero_page(
    memory: &GuestMemoryMmap,
    mut visit: impl FnMut(u64, &[u8]) -> Result<()>,
) -> Result<()> {
    let mut page = [0u8; PAGE_BYTES];
    let mut file_offset = 0u64;
    for region in memory.iter() {
        for at in (0..region.len()).step_by(PAGE_BYTES) {
            memory
                .read_slice(&mut page, region.start_addr().unchecked_add(at))
                .map_err(|e| Error::Memory(format!("read guest RAM: {e}")))?;
            if page.iter().any(|&b| b != 0) {
                visit(file_offset + at, &page)?;
            }
        }
        file_offset += region.len();
    }
    Ok(())
}

/// CRC-32 over every non-zero page, each preceded by its memory-file offset: equal for equal
/// guest RAM however it is backed (a hole and a page of zeros count alike).
pub fn checksum(memory: &GuestMemoryMmap) -> Result<u32> {
    let mut crc = super::CRC32.digest();
    for_each_nonzero_page(memory, |offset, page| {
        crc.update(&offset.to_le_bytes());
        crc.update(page);
        Ok(())
    })?;
    Ok(crc.finalize())
}

/// Writes guest RAM to `path` as a sparse file of the guest's size; returns its checksum.
pub fn write(memory: &GuestMemoryMmap, path: &Path) -> Result<u32> {
    let file = File::create(path).map_err(io_error("create the snapshot memory file"))?;
    let total: u64 = memory.iter().map(|r| r.len()).sum();
    file.set_len(total)
        .map_err(io_error("size the snapshot memory file"))?;
    let mut crc = super::CRC32.digest();
    let mut run: Vec<u8> = Vec::with_capacity(WRITE_RUN_BYTES);
    let mut run_start = 0u64;
    let flush = |run: &mut Vec<u8>, at: u64| -> Result<()> {
        file.write_all_at(run, at)
            .map_err(io_error("write the snapshot memory file"))?;
        run.clear();
        Ok(())
    };
    for_each_nonzero_page(memory, |offset, page| {
        crc.update(&offset.to_le_bytes());
        crc.update(page);
        let contiguous = run_start + run.len() as u64 == offset;
        if !run.is_empty() && (!contiguous || run.len() >= WRITE_RUN_BYTES) {
            flush(&mut run, run_start)?;
        }
        if run.is_empty() {
            run_start = offset;
        }
        run.extend_from_slice(page);
        Ok(())
    })?;
    if !run.is_empty() {
        flush(&mut run, run_start)?;
    }
    file.sync_all()
        .map_err(io_error("sync the snapshot memory file"))?;
    Ok(crc.finalize())
}

/// Maps the memory file at `path` as guest RAM of `mem_bytes`, private and copy-on-write.
/// The file must be exactly that long: a shorter one was truncated (pages past its end
/// would be SIGBUS in the guest), a longer one belongs to another guest.
pub fn map(path: &Path, mem_bytes: u64) -> Result<GuestRam> {
    let file = File::open(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let len = file
        .metadata()
        .map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?
        .len();
    if len != mem_bytes {
        return Err(Error::Snapshot {
            path: path.to_path_buf(),
            detail: format!(
                "{len} bytes, but the snapshot's guest has {mem_bytes} bytes of RAM ({}) — take the snapshot again",
                if len < mem_bytes { "truncated" } else { "another guest's memory" }
            ),
        });
    }
    let mut regions = Vec::new();
    let mut file_offset = 0u64;
    for (start, region_len) in ram_regions(mem_bytes) {
        let handle = file
            .try_clone()
            .map_err(io_error("duplicate the memory file descriptor"))?;
        let mapping = MmapRegionBuilder::new(region_len as usize)
            .with_mmap_prot(libc::PROT_READ | libc::PROT_WRITE)
            .with_mmap_flags(libc::MAP_PRIVATE | libc::MAP_NORESERVE)
            .with_file_offset(FileOffset::new(handle, file_offset))
            .build()
            .map_err(|e| Error::Memory(format!("map {}: {e}", path.display())))?;
        crate::memory::advise(mapping.as_ptr() as usize, region_len as usize, false);
        let region = GuestRegionMmap::new(mapping, GuestAddress(start))
            .ok_or_else(|| Error::Memory(format!("guest RAM at {start:#x} overflows")))?;
        regions.push(region);
        file_offset += region_len;
    }
    let memory =
        GuestMemoryMmap::from_regions(regions).map_err(|e| Error::Memory(e.to_string()))?;
    Ok(GuestRam::owned_by_regions(memory))
}
