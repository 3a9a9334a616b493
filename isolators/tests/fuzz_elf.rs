//! Fuzz target for the PVH ELF reader and writer (`microvm::elf`): any bytes are read without a
//! panic, and every image the writer makes reads back (its entry, its segment) both with this
//! reader and with the `object`-based one that checks kernels (`kernel::inspect`).
//! Runs for a bounded time under `cargo test`; under libFuzzer with `cargo bolero test` (README).
use isolators::kernel::{self, KernelFormat};
use isolators::microvm::elf::{self, Segment};

#[test]
fn any_bytes_are_read_without_a_panic() {
    bolero::check!().for_each(|bytes: &[u8]| {
        let headers = elf::program_headers(bytes);
        let entry = elf::elf_entry(bytes);
        let pvh = elf::parse_pvh_entry(bytes);
        // No program headers, no entry and no note: the three agree on what is an ELF.
        if headers.is_none() {
            assert_eq!((entry, pvh), (None, None));
        }
    });
}

#[test]
fn every_written_image_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vmlinux");
    bolero::check!()
        .with_type::<(u32, Vec<u8>, u32)>()
        .for_each(|(address, bytes, memory_size)| {
            let image = elf::pvh_elf(
                *address,
                &Segment {
                    bytes,
                    memory_size: *memory_size,
                },
            );
            assert_eq!(elf::parse_pvh_entry(&image), Some(*address));
            assert_eq!(elf::elf_entry(&image), Some(u64::from(*address)));
            let headers = elf::program_headers(&image).unwrap();
            let load: Vec<_> = headers.iter().filter(|h| h.is_load()).collect();
            assert_eq!(load.len(), 1);
            let offset = load[0].offset as usize;
            assert_eq!(
                &image[offset..offset + load[0].file_size as usize],
                &bytes[..]
            );
            assert_eq!(load[0].physical_address, u64::from(*address));
            assert_eq!(
                load[0].memory_size,
                u64::from((*memory_size).max(bytes.len() as u32))
            );
            std::fs::write(&file, &image).unwrap();
            assert_eq!(
                kernel::inspect(&file).unwrap(),
                KernelFormat::Elf {
                    pvh_entry: Some(*address)
                }
            );
        });
}
