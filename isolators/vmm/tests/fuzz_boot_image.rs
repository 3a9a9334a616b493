//! Fuzz target for the VMM's kernel file checks (`boot::image`: the bzImage setup header, the
//! ELF program headers, where the initrd goes): any kernel bytes, guest memory size and initrd
//! size are either accepted with everything inside low RAM, or refused in one line, without a
//! panic. Runs for a bounded time under `cargo test`; under libFuzzer with `cargo bolero test`
//! (README).
use isobench_vmm::boot::image::{self, Format};
use isobench_vmm::config::VmConfig;
use isobench_vmm::layout::low_ram_end;
use isobench_vmm::memory::HugePages;

#[test]
fn any_kernel_file_is_accepted_within_memory_or_refused_in_one_line() {
    // Input: guest MiB (u16 LE), initrd present (bit 0), initrd bytes (u32 LE), the kernel file.
    let dir = tempfile::tempdir().unwrap();
    let (kernel, initrd) = (dir.path().join("kernel"), dir.path().join("initrd"));
    bolero::check!().for_each(|input: &[u8]| {
        let Some((head, kernel_bytes)) = input.split_first_chunk::<7>() else {
            return;
        };
        let mem_mib = u16::from_le_bytes([head[0], head[1]]);
        let initrd_bytes =
            (head[2] & 1 == 1).then(|| u32::from_le_bytes([head[3], head[4], head[5], head[6]]));
        std::fs::write(&kernel, kernel_bytes).unwrap();
        if let Some(length) = initrd_bytes {
            // Sparse: a 4 GiB initrd costs nothing to make.
            let file = std::fs::File::create(&initrd).unwrap();
            file.set_len(u64::from(length)).unwrap();
        }
        let config = VmConfig {
            kernel: kernel.clone(),
            initrd: initrd_bytes.map(|_| initrd.clone()),
            cmdline: String::new(),
            mem_mib: u32::from(mem_mib),
            huge_pages: HugePages::Off,
            report_fd: None,
            pit: false,
            split_irqchip: false,
            snapshot_to: None,
        };
        match image::open(&config) {
            Ok(files) => {
                let low_end = low_ram_end(config.mem_bytes());
                assert!(files.kernel.end <= low_end, "kernel past low RAM");
                if matches!(files.kernel.format, Format::BzImage(_)) {
                    assert!(kernel_bytes.len() > 0x206);
                }
                if let Some(initrd) = files.initrd {
                    assert_eq!(initrd.address % 4096, 0);
                    assert!(initrd.address >= files.kernel.end, "initrd over the kernel");
                    assert!(initrd.address + initrd.size_bytes <= low_end);
                }
            }
            Err(error) => {
                let line = error.to_string();
                assert!(!line.contains('\n'), "{line:?}");
            }
        }
    });
}
