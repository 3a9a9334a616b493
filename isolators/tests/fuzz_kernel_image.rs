//! Fuzz target for the kernel image readers (`kernel`: the bzImage setup header, the payload's
//! decompression, the vmlinux's ELF and PVH note): any bytes are either a kernel or refused in
//! one line, without a panic; and every synthetic bzImage around a PVH ELF gives that ELF back.
//! Runs for a bounded time under `cargo test`; under libFuzzer with `cargo bolero test` (README).
mod kernel_support;

use std::path::Path;

use isolators::kernel::{self, Compression, KernelFormat};
use isolators::microvm::elf::{self, Segment};
use kernel_support::{bzimage, compress};

#[test]
fn any_bytes_are_a_kernel_or_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kernel");
    bolero::check!().for_each(|bytes: &[u8]| {
        match kernel::extract_vmlinux(Path::new("k"), bytes) {
            Ok(vmlinux) => assert!(elf::program_headers(&vmlinux).is_some()),
            Err(error) => {
                let line = error.to_string();
                assert!(!line.contains('\n'), "{line:?}");
            }
        }
        std::fs::write(&file, bytes).unwrap();
        // Reading only headers, inspect errors only when the file cannot be read.
        kernel::inspect(&file).unwrap();
    });
}

#[test]
fn every_synthetic_bzimage_gives_its_vmlinux_back() {
    let compressions: Vec<Compression> = Compression::ALL
        .into_iter()
        .filter(|c| *c != Compression::Lzo)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bzImage");
    bolero::check!()
        .with_type::<(u8, u32, Vec<u8>)>()
        .for_each(|(which, address, bytes)| {
            let compression = compressions[usize::from(*which) % compressions.len()];
            let vmlinux = elf::pvh_elf(
                *address,
                &Segment {
                    bytes,
                    memory_size: 0,
                },
            );
            let image = bzimage(&compress(compression, &vmlinux));
            let extracted = kernel::extract_vmlinux(Path::new("k"), &image)
                .unwrap_or_else(|e| panic!("{compression}: {e}"));
            assert!(extracted == vmlinux, "{compression}: not the same vmlinux");
            std::fs::write(&file, &image).unwrap();
            assert_eq!(
                kernel::inspect(&file).unwrap(),
                KernelFormat::BzImage {
                    protocol: 0x020f,
                    compression: Some(compression)
                }
            );
        });
}
