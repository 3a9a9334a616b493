//! Kernel images: the PVH vmlinux extracted from Debian's bzImage (when the cache has it), and
//! from synthetic bzImages built here around a small PVH ELF with every compression the
//! extraction reads (compressed with the same crates), plus the one-line error of each bad
//! input; and Debian's kernel fetched with apt into a temporary cache.
mod kernel_support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use isolators::kernel::{self, Compression, KernelFormat};
use isolators::microvm::elf::{pvh_elf, Segment};
use isolators::testing::{check_on_path, run_if};
use isolators::Error;
use kernel_support::{bzimage, compress};

/// Where the synthetic kernel's PVH entry (and its one segment) is.
const ENTRY: u32 = 0x100_0000;

/// Prints where `cargo test` shows it even for a passing test (libtest captures eprintln!).
fn note(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// A PVH ELF a little over 8 MiB, so the LZ4 legacy frame has two blocks; compressible like
/// code, not like zeros.
fn pvh_kernel() -> Vec<u8> {
    let bytes: Vec<u8> = (0..(8 << 20) + 4096u32)
        .map(|i| ((i / 64) as u8).wrapping_mul(31) ^ (i % 7) as u8)
        .collect();
    pvh_elf(
        ENTRY,
        &Segment {
            bytes: &bytes,
            memory_size: bytes.len() as u32,
        },
    )
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The files under `<cache>/kernel`, sorted.
fn cached(cache: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(cache.join("kernel"))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn every_compression_round_trips_through_a_cached_vmlinux() {
    let elf = pvh_kernel();
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    for compression in Compression::ALL {
        if compression == Compression::Lzo {
            continue;
        }
        let image = bzimage(&compress(compression, &elf));
        let path = write(work.path(), &format!("bzImage-{compression}"), &image);
        assert_eq!(
            kernel::inspect(&path).unwrap(),
            KernelFormat::BzImage {
                protocol: 0x020f,
                compression: Some(compression)
            }
        );
        let started = Instant::now();
        let vmlinux = kernel::vmlinux_for(&path, &cache).unwrap();
        let took = started.elapsed();
        let expected = cache
            .join("kernel")
            .join(format!("vmlinux-{}", kernel::image_hash(&image)));
        assert_eq!(vmlinux, expected, "{compression}");
        assert!(
            std::fs::read(&vmlinux).unwrap() == elf,
            "{compression}: not the same bytes"
        );
        assert_eq!(
            kernel::inspect(&vmlinux).unwrap(),
            KernelFormat::Elf {
                pvh_entry: Some(ENTRY)
            }
        );
        // Reused, not written again.
        let inode = |p: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap());
        let first = inode(&vmlinux);
        assert_eq!(kernel::vmlinux_for(&path, &cache).unwrap(), vmlinux);
        assert_eq!(
            inode(&vmlinux),
            first,
            "{compression}: the cached file was rewritten"
        );
        note(&format!(
            "{compression}: {} KiB bzImage → {} KiB vmlinux in {:.0} ms",
            image.len() / 1024,
            elf.len() / 1024,
            took.as_secs_f64() * 1e3
        ));
    }
    let names = cached(&cache);
    assert_eq!(
        names.len(),
        6,
        "one vmlinux per compression, no temporary file: {names:?}"
    );
}

#[test]
fn a_pvh_elf_is_used_as_it_is() {
    let work = tempfile::tempdir().unwrap();
    let path = write(work.path(), "vmlinux", &pvh_kernel());
    let cache = work.path().join("cache");
    assert_eq!(kernel::vmlinux_for(&path, &cache).unwrap(), path);
    assert!(kernel::inspect(&path).unwrap().is_pvh_elf());
    assert!(!cache.exists(), "nothing is cached for an ELF kernel");
}

/// Asserts `error` is one line naming `path` and saying `expected`, and nothing was cached.
fn assert_one_line(error: Error, path: &Path, expected: &str, cache: &Path) {
    let text = error.to_string();
    note(&format!("error: {text}"));
    assert!(!text.contains('\n'), "one line: {text:?}");
    assert!(
        text.starts_with(&path.display().to_string()),
        "names the file: {text}"
    );
    assert!(text.contains(expected), "says {expected:?}: {text}");
    assert!(
        matches!(error, Error::Kernel(_)),
        "a kernel error: {error:?}"
    );
    assert!(
        cached(cache).is_empty(),
        "nothing cached: {:?}",
        cached(cache)
    );
}

#[test]
fn bad_kernels_get_one_line_each_and_leave_nothing() {
    let elf = pvh_kernel();
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let dir = work.path();
    let fail = |path: &Path| kernel::vmlinux_for(path, &cache).unwrap_err();

    let text = write(dir, "notes.txt", b"hello, this is not a kernel\n");
    assert_one_line(fail(&text), &text, "not a kernel image", &cache);
    assert_eq!(kernel::inspect(&text).unwrap(), KernelFormat::Unknown);

    let gzip = bzimage(&compress(Compression::Gzip, &elf));
    let cut = write(dir, "truncated", &gzip[..gzip.len() / 2]);
    assert_one_line(fail(&cut), &cut, "truncated", &cache);
    let header_only = write(dir, "header-only", &gzip[..0x220]);
    assert_one_line(fail(&header_only), &header_only, "truncated", &cache);

    for compression in [Compression::Gzip, Compression::Bzip2, Compression::Xz] {
        let mut payload = compress(compression, &elf);
        let middle = payload.len() / 2;
        payload[middle] ^= 0x55;
        let path = write(dir, &format!("corrupt-{compression}"), &bzimage(&payload));
        assert_one_line(
            fail(&path),
            &path,
            &format!("corrupt {compression} payload"),
            &cache,
        );
    }
    let mut lz4 = compress(Compression::Lz4, &elf);
    lz4[7] = 0x7f; // the first block's length, now past the payload's end
    let path = write(dir, "corrupt-lz4", &bzimage(&lz4));
    assert_one_line(fail(&path), &path, "corrupt lz4 payload", &cache);

    let unknown = write(dir, "unknown", &bzimage(b"ABCDEFGH and more"));
    assert_one_line(fail(&unknown), &unknown, "41 42 43 44 45 46", &cache);
    assert_eq!(
        kernel::inspect(&unknown).unwrap(),
        KernelFormat::BzImage {
            protocol: 0x020f,
            compression: None
        }
    );
    let lzo = write(
        dir,
        "lzo",
        &bzimage(b"\x89LZO\x00\x0d\x0a\x1a\x0a and the rest"),
    );
    assert_one_line(fail(&lzo), &lzo, "lzo-compressed", &cache);

    let mut old = bzimage(&compress(Compression::Gzip, &elf));
    old[0x206..0x208].copy_from_slice(&0x0206u16.to_le_bytes());
    let old = write(dir, "old", &old);
    assert_one_line(fail(&old), &old, "boot protocol 2.06", &cache);

    // The same ELF with its note's type changed from 18: no PVH entry, as an ELF and inside
    // a bzImage.
    let mut no_pvh = elf.clone();
    let name = no_pvh.windows(4).position(|w| w == b"Xen\0").unwrap();
    no_pvh[name - 4] = 17;
    let plain = write(dir, "vmlinux-no-pvh", &no_pvh);
    let wanted = "this VMM needs a PVH kernel: CONFIG_PVH=y";
    assert_one_line(fail(&plain), &plain, wanted, &cache);
    assert_eq!(
        kernel::inspect(&plain).unwrap(),
        KernelFormat::Elf { pvh_entry: None }
    );
    let wrapped = write(
        dir,
        "bzImage-no-pvh",
        &bzimage(&compress(Compression::Zstd, &no_pvh)),
    );
    assert_one_line(fail(&wrapped), &wrapped, wanted, &cache);

    let missing = dir.join("absent");
    let error = kernel::vmlinux_for(&missing, &cache).unwrap_err();
    assert!(
        error.to_string().contains(&missing.display().to_string()),
        "{error}"
    );
}

#[test]
fn debian_kernel_extracts_to_a_pvh_vmlinux() {
    let debian = kernel::cache_dir().join("kernel/vmlinuz");
    let present = match debian.is_file() {
        true => Ok(()),
        false => Err(format!(
            "{} missing — run scripts/fetch-guest-kernel.sh",
            debian.display()
        )),
    };
    if !run_if(
        "debian_kernel_extracts_to_a_pvh_vmlinux",
        "guest-kernel",
        present,
    ) {
        return;
    }
    let format = kernel::inspect(&debian).unwrap();
    assert_compressed_bzimage(&format);
    let work = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let vmlinux = kernel::vmlinux_for(&debian, work.path()).unwrap();
    let extraction = started.elapsed();
    let started = Instant::now();
    assert_eq!(kernel::vmlinux_for(&debian, work.path()).unwrap(), vmlinux);
    let reuse = started.elapsed();
    let extracted = kernel::inspect(&vmlinux).unwrap();
    assert!(extracted.is_pvh_elf(), "{extracted}");
    note(&format!(
        "{} ({format}, {:.1} MiB) → {extracted}, {:.1} MiB: extracted in {:.0} ms, reused in {:.0} ms",
        debian.display(),
        std::fs::metadata(&debian).unwrap().len() as f64 / 1048576.0,
        std::fs::metadata(&vmlinux).unwrap().len() as f64 / 1048576.0,
        extraction.as_secs_f64() * 1e3,
        reuse.as_secs_f64() * 1e3
    ));
}

#[test]
fn fetch_debian_kernel_into_an_empty_cache() {
    let ready = check_on_path("apt-get").and_then(|()| check_on_path("dpkg"));
    if !run_if("fetch_debian_kernel_into_an_empty_cache", "apt", ready) {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let lines = std::cell::RefCell::new(Vec::new());
    let progress = |line: &str| lines.borrow_mut().push(line.to_string());
    let fetched = kernel::fetch_debian_kernel(cache.path(), &progress).unwrap();
    assert_eq!(fetched, cache.path().join("kernel/vmlinuz"));
    let format = kernel::inspect(&fetched).unwrap();
    assert_compressed_bzimage(&format);
    let version = std::fs::read_to_string(cache.path().join("kernel/version")).unwrap();
    assert!(
        version.trim().starts_with(|c: char| c.is_ascii_digit()),
        "{version:?}"
    );
    let last = lines.borrow().last().cloned().unwrap_or_default();
    note(&format!("fetch said: {}", lines.borrow().join(" | ")));
    assert!(last.starts_with("fetched linux-image-"), "{last}");
    assert_eq!(cached(cache.path()), ["version", "vmlinuz"]);
    // A second fetch finds that version in place.
    lines.borrow_mut().clear();
    kernel::fetch_debian_kernel(cache.path(), &progress).unwrap();
    assert!(
        lines.borrow().last().unwrap().contains("already in"),
        "{:?}",
        lines.borrow()
    );
}

fn assert_compressed_bzimage(format: &KernelFormat) {
    assert!(
        matches!(
            format,
            KernelFormat::BzImage {
                compression: Some(_),
                ..
            }
        ),
        "{format}"
    );
}
