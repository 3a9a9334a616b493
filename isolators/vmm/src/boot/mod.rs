//! Loading the guest: kernel (PVH ELF, ELF vmlinux or bzImage), command line, initrd, and the
//! boot structures the chosen entry protocol expects.
pub mod pvh;
pub mod zero_page;

use std::fs::File;
use std::io::Read;
use std::path::Path;

use linux_loader::configurator::{pvh::PvhBootConfigurator, BootConfigurator, BootParams};
use linux_loader::loader::{
    bzimage::BzImage, elf::Elf, elf::PvhBootCapability, Cmdline, KernelLoader,
};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

use crate::config::VmConfig;
use crate::error::{Error, Result};
use crate::layout::{
    CMDLINE, CMDLINE_MAX_BYTES, HIGH_MEMORY, PVH_MEMMAP, PVH_MODLIST, PVH_START_INFO, ZERO_PAGE,
};

/// Offset of the 64-bit entry point in a bzImage's protected-mode kernel.
const BZIMAGE_64BIT_ENTRY_OFFSET: u64 = 0x200;
/// The kernel reads initrds only below this address unless the header says otherwise.
const INITRD_ADDR_MAX_DEFAULT: u64 = 0x37ff_ffff;
const PAGE: u64 = 4096;

/// How the vCPU starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// 32-bit protected mode, paging off, rbx = hvm_start_info.
    Pvh(u64),
    /// 64-bit long mode with identity page tables, rsi = zero page.
    Linux64(u64),
}

/// Loads everything into guest memory and returns where to start.
pub fn load(config: &VmConfig, memory: &GuestMemoryMmap) -> Result<Entry> {
    let mem_bytes = config.mem_bytes();
    let mut kernel = open(&config.kernel, true)?;
    let kernel_len = kernel.metadata().map(|m| m.len()).unwrap_or(0);
    if HIGH_MEMORY + kernel_len > mem_bytes {
        return Err(Error::MemoryTooSmall(config.mem_mib));
    }
    let mut magic = [0u8; 4];
    let is_elf = kernel.read_exact(&mut magic).is_ok() && magic == *b"\x7fELF";
    let load_error = |detail: String| Error::KernelLoad {
        path: config.kernel.clone(),
        detail,
    };
    let (entry, kernel_end, header) = if is_elf {
        let loaded = Elf::load(memory, None, &mut kernel, Some(GuestAddress(HIGH_MEMORY)))
            .map_err(|e| load_error(e.to_string()))?;
        let entry = match loaded.pvh_boot_cap {
            PvhBootCapability::PvhEntryPresent(address) => Entry::Pvh(address.0),
            _ => Entry::Linux64(loaded.kernel_load.0),
        };
        (entry, loaded.kernel_end, None)
    } else {
        check_bzimage_length(&mut kernel, kernel_len, &config.kernel)?;
        let loaded = BzImage::load(memory, None, &mut kernel, Some(GuestAddress(HIGH_MEMORY)))
            .map_err(|e| match e {
                linux_loader::loader::Error::Bzimage(
                    linux_loader::loader::bzimage::Error::InvalidBzImage,
                ) => Error::NotAKernel(config.kernel.clone()),
                other => load_error(other.to_string()),
            })?;
        (
            Entry::Linux64(loaded.kernel_load.0 + BZIMAGE_64BIT_ENTRY_OFFSET),
            loaded.kernel_end,
            loaded.setup_header,
        )
    };

    let has_cmdline = !config.cmdline.is_empty();
    if has_cmdline {
        let mut cmdline =
            Cmdline::new(CMDLINE_MAX_BYTES).map_err(|e| Error::Boot(e.to_string()))?;
        cmdline
            .insert_str(&config.cmdline)
            .map_err(|e| Error::Usage(format!("--cmdline: {e}")))?;
        linux_loader::loader::load_cmdline(memory, GuestAddress(CMDLINE), &cmdline)
            .map_err(|e| Error::Boot(e.to_string()))?;
    }
    let initrd = match &config.initrd {
        Some(path) => {
            let max = header
                .map_or(INITRD_ADDR_MAX_DEFAULT, |h| {
                    u64::from(h.initrd_addr_max).max(0xffff_ffff)
                })
                .min(INITRD_ADDR_MAX_DEFAULT);
            Some(load_initrd(
                path,
                memory,
                mem_bytes,
                kernel_end,
                max,
                config.mem_mib,
            )?)
        }
        None => None,
    };

    match entry {
        Entry::Pvh(_) => {
            let info = pvh::build(mem_bytes, has_cmdline, initrd);
            let mut params = BootParams::new(&info.start_info, GuestAddress(PVH_START_INFO));
            params.set_sections(&info.memmap, GuestAddress(PVH_MEMMAP));
            if !info.modules.is_empty() {
                params.set_modules(&info.modules, GuestAddress(PVH_MODLIST));
            }
            PvhBootConfigurator::write_bootparams(&params, memory)
                .map_err(|e| Error::Boot(e.to_string()))?;
        }
        Entry::Linux64(_) => {
            let params = zero_page::build(header, mem_bytes, config.cmdline.len() + 1, initrd);
            memory
                .write_obj(params, GuestAddress(ZERO_PAGE))
                .map_err(|e| Error::Boot(e.to_string()))?;
        }
    }
    Ok(entry)
}

/// A bzImage says how long it is: (setup_sects + 1) × 512 bytes of real-mode setup, then
/// syssize × 16 bytes of protected-mode kernel. A shorter file was cut off.
fn check_bzimage_length(kernel: &mut File, kernel_len: u64, path: &Path) -> Result<()> {
    use std::io::{Seek, SeekFrom};
    let mut header = [0u8; 0x202 + 4];
    let read = kernel
        .seek(SeekFrom::Start(0))
        .and_then(|_| kernel.read_exact(&mut header));
    if read.is_err() || &header[0x202..0x206] != b"HdrS" {
        return Err(Error::NotAKernel(path.to_path_buf()));
    }
    let setup_sects = match header[0x1f1] {
        0 => 4,
        n => u64::from(n),
    };
    let syssize = u64::from(u32::from_le_bytes(
        header[0x1f4..0x1f8].try_into().expect("4 bytes"),
    ));
    let expected = (setup_sects + 1) * 512 + syssize * 16;
    if kernel_len < expected {
        return Err(Error::KernelLoad {
            path: path.to_path_buf(),
            detail: format!(
                "the bzImage header promises {expected} bytes but the file has {kernel_len}"
            ),
        });
    }
    Ok(())
}

fn open(path: &Path, is_kernel: bool) -> Result<File> {
    File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound if is_kernel => Error::KernelMissing(path.to_path_buf()),
        _ => Error::Read {
            path: path.to_path_buf(),
            source: e,
        },
    })
}

/// Places the initrd page-aligned at the top of low memory, above the kernel.
fn load_initrd(
    path: &Path,
    memory: &GuestMemoryMmap,
    mem_bytes: u64,
    kernel_end: u64,
    max_address: u64,
    mem_mib: u32,
) -> Result<(u64, u64)> {
    let mut file = open(path, false)?;
    let size = file
        .metadata()
        .map_err(|e| Error::Read {
            path: path.to_path_buf(),
            source: e,
        })?
        .len();
    let top = mem_bytes.min(max_address + 1);
    let address = top
        .checked_sub(size)
        .map(|a| a & !(PAGE - 1))
        .filter(|&a| a >= kernel_end.max(HIGH_MEMORY));
    let Some(address) = address else {
        return Err(Error::InitrdTooLarge {
            path: path.to_path_buf(),
            size_bytes: size,
            mem_mib,
        });
    };
    memory
        .read_exact_volatile_from(GuestAddress(address), &mut file, size as usize)
        .map_err(|e| Error::Read {
            path: path.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?;
    Ok((address, size))
}
