//! The kernel file as linux-loader reads it, from a read-only mapping, leaving out the 4 KiB
//! pages that are all zero when it copies segments into guest RAM.
//!
//! Guest RAM is fresh anonymous memory, zero until written, and the kernel is the first thing
//! written into it, so a zero page need not be copied — nor, when a whole 2 MiB of the
//! segment is zero, faulted in (and zeroed) by the host at all. Debian's cloud vmlinux has
//! about 15 MiB of its 45 MiB of segments zero in the file (.bss, .brk and .init.scratch
//! padded out, and alignment gaps).
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::AsRawFd;

use vm_memory::bitmap::BitmapSlice;
use vm_memory::{ReadVolatile, VolatileMemoryError, VolatileSlice};

const PAGE: usize = 4096;

/// A whole file, mapped read-only, read like a file.
pub struct ZeroSkipping {
    address: *const u8,
    len: usize,
    position: usize,
}

impl ZeroSkipping {
    /// Maps `file` (its page cache pages, populated at once).
    pub fn new(file: &File) -> std::io::Result<ZeroSkipping> {
        let len = usize::try_from(file.metadata()?.len()).map_err(std::io::Error::other)?;
        if len == 0 {
            return Ok(ZeroSkipping {
                address: std::ptr::NonNull::dangling().as_ptr(),
                len,
                position: 0,
            });
        }
        // SAFETY: a new read-only private mapping of a file we hold open; no existing memory
        // is touched. The file may change under us only if someone rewrites the kernel while
        // it boots, which gives a corrupt guest, not unsafety here (we only read bytes).
        let address = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_POPULATE,
                file.as_raw_fd(),
                0,
            )
        };
        if address == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(ZeroSkipping {
            address: address as *const u8,
            len,
            position: 0,
        })
    }

    /// The rest of the file from the current position.
    fn rest(&self) -> &[u8] {
        // SAFETY: [address, address + len) is our live read-only mapping (or len is 0), and
        // position never exceeds len (seek clamps reads to it).
        let all = unsafe { std::slice::from_raw_parts(self.address, self.len) };
        &all[self.position.min(self.len)..]
    }
}

impl Drop for ZeroSkipping {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: the mapping made in `new`; no slice of it outlives `self`.
            unsafe { libc::munmap(self.address as *mut libc::c_void, self.len) };
        }
    }
}

/// True when every byte of `page` is zero.
pub fn is_zero(page: &[u8]) -> bool {
    // SAFETY: u64 has no invalid bit patterns; align_to splits off the unaligned ends.
    let (head, words, tail) = unsafe { page.align_to::<u64>() };
    head.iter().all(|&b| b == 0) && words.iter().all(|&w| w == 0) && tail.iter().all(|&b| b == 0)
}

impl Read for ZeroSkipping {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let rest = self.rest();
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.position += n;
        Ok(n)
    }
}

impl Seek for ZeroSkipping {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            SeekFrom::Start(at) => Some(at),
            SeekFrom::End(delta) => (self.len as u64).checked_add_signed(delta),
            SeekFrom::Current(delta) => (self.position as u64).checked_add_signed(delta),
        };
        let target = target.ok_or_else(|| std::io::Error::other("seek before the start"))?;
        self.position = usize::try_from(target).map_err(std::io::Error::other)?;
        Ok(target)
    }
}

impl ReadVolatile for ZeroSkipping {
    /// Copies the non-zero 4 KiB pages (counted from the current position) into `buf`, which
    /// must be fresh, zero guest RAM.
    fn read_volatile<B: BitmapSlice>(
        &mut self,
        buf: &mut VolatileSlice<B>,
    ) -> Result<usize, VolatileMemoryError> {
        let rest = self.rest();
        let n = rest.len().min(buf.len());
        for (index, page) in rest[..n].chunks(PAGE).enumerate() {
            if !is_zero(page) {
                buf.subslice(index * PAGE, page.len())?.copy_from(page);
            }
        }
        self.position += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn reads_and_seeks_like_the_file_and_skips_zero_pages() {
        let mut bytes = vec![0u8; 3 * PAGE + 100];
        bytes[10] = 1;
        bytes[2 * PAGE + 5] = 2;
        bytes[3 * PAGE + 99] = 3;
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&bytes).unwrap();
        let mut reader = ZeroSkipping::new(&file).unwrap();
        let mut head = [0u8; 16];
        reader.read_exact(&mut head).unwrap();
        assert_eq!(head[10], 1);
        assert_eq!(reader.seek(SeekFrom::Start(0)).unwrap(), 0);
        // Guest memory already holding 0xff shows which pages were written.
        let mut memory = vec![0xffu8; bytes.len()];
        let mut slice = VolatileSlice::from(&mut memory[..]);
        assert_eq!(reader.read_volatile(&mut slice).unwrap(), bytes.len());
        assert_eq!(&memory[..PAGE], &bytes[..PAGE], "non-zero page copied");
        assert!(
            memory[PAGE..2 * PAGE].iter().all(|&b| b == 0xff),
            "zero page skipped"
        );
        assert_eq!(
            &memory[2 * PAGE..],
            &bytes[2 * PAGE..],
            "partial last page copied"
        );
        assert_eq!(reader.read(&mut head).unwrap(), 0, "at the end");
        assert!(is_zero(&[0; 9]) && !is_zero(&[0, 0, 0, 0, 0, 0, 0, 0, 1]));
    }
}
