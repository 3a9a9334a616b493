//! Loading the guest: kernel (PVH ELF, ELF vmlinux or bzImage), command line, initrd, and the
//! boot structures the chosen entry protocol expects. [`image`] checks the files first.
pub mod acpi;
pub mod image;
pub mod mptable;
pub mod pvh;
pub mod zero_page;
pub mod zero_skip;

use linux_loader::configurator::{pvh::PvhBootConfigurator, BootConfigurator, BootParams};
use linux_loader::loader::{
    bzimage::BzImage, elf::Elf, elf::PvhBootCapability, Cmdline, KernelLoader,
};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

use crate::config::VmConfig;
use crate::error::{Error, Result};
use crate::layout::{CMDLINE, CMDLINE_MAX_BYTES, HIGH_MEMORY, PVH_MEMMAP, PVH_MODLIST};
use crate::layout::{PVH_START_INFO, ZERO_PAGE};
use image::{BootFiles, Format};

/// Offset of the 64-bit entry point in a bzImage's protected-mode kernel.
const BZIMAGE_64BIT_ENTRY_OFFSET: u64 = 0x200;

/// How the vCPU starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// 32-bit protected mode, paging off, rbx = hvm_start_info.
    Pvh(u64),
    /// 64-bit long mode with identity page tables, rsi = zero page.
    Linux64(u64),
}

/// Loads kernel, command line, initrd and boot structures into guest memory and returns
/// where to start.
pub fn load(config: &VmConfig, files: BootFiles, memory: &GuestMemoryMmap) -> Result<Entry> {
    let BootFiles { kernel, initrd } = files;
    let mut file = kernel.file;
    let load_error = |e: linux_loader::loader::Error| Error::KernelLoad {
        path: kernel.path.clone(),
        detail: e.to_string(),
    };
    let high_memory = Some(GuestAddress(HIGH_MEMORY));
    let (entry, header) = match kernel.format {
        Format::Elf => {
            // Guest RAM is fresh and zero: pages that are zero in the file need no copy.
            let mut reader = zero_skip::ZeroSkipping::new(&file).map_err(|source| Error::Read {
                path: kernel.path.clone(),
                source,
            })?;
            let loaded = Elf::load(memory, None, &mut reader, high_memory).map_err(load_error)?;
            let entry = match loaded.pvh_boot_cap {
                PvhBootCapability::PvhEntryPresent(address) => Entry::Pvh(address.0),
                _ => Entry::Linux64(loaded.kernel_load.0),
            };
            (entry, None)
        }
        Format::BzImage(_) => {
            let loaded = BzImage::load(memory, None, &mut file, high_memory).map_err(load_error)?;
            let entry = loaded.kernel_load.0 + BZIMAGE_64BIT_ENTRY_OFFSET;
            (Entry::Linux64(entry), loaded.setup_header)
        }
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
    let initrd = match initrd {
        Some(mut initrd) => {
            memory
                .read_exact_volatile_from(
                    GuestAddress(initrd.address),
                    &mut initrd.file,
                    initrd.size_bytes as usize,
                )
                .map_err(|e| Error::Read {
                    path: initrd.path.clone(),
                    source: std::io::Error::other(e.to_string()),
                })?;
            Some((initrd.address, initrd.size_bytes))
        }
        None => None,
    };

    mptable::write(memory)?;
    let rsdp = acpi::write(memory)?;
    let mem_bytes = config.mem_bytes();
    match entry {
        Entry::Pvh(_) => {
            let mut info = pvh::build(mem_bytes, has_cmdline, initrd);
            info.start_info.rsdp_paddr = rsdp;
            let mut params = BootParams::new(&info.start_info, GuestAddress(PVH_START_INFO));
            params.set_sections(&info.memmap, GuestAddress(PVH_MEMMAP));
            if !info.modules.is_empty() {
                params.set_modules(&info.modules, GuestAddress(PVH_MODLIST));
            }
            PvhBootConfigurator::write_bootparams(&params, memory)
                .map_err(|e| Error::Boot(e.to_string()))?;
        }
        Entry::Linux64(_) => {
            let mut params = zero_page::build(header, mem_bytes, config.cmdline.len() + 1, initrd);
            params.acpi_rsdp_addr = rsdp;
            memory
                .write_obj(params, GuestAddress(ZERO_PAGE))
                .map_err(|e| Error::Boot(e.to_string()))?;
        }
    }
    Ok(entry)
}
