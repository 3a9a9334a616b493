//! Writes the bare PVH guest to a file, for trying it in other VMMs:
//! `cargo run -p isolators --example write_bare_guest -- bare.elf [MODE]` (noop, touch:MiB, cpu:M, mem:MiB).
fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: write_bare_guest OUTPUT.elf [noop|touch:MiB|cpu:M|mem:MiB]");
        std::process::exit(2);
    };
    let mode = args.next().unwrap_or_else(|| "noop".into());
    let work = match isolators::microvm::guest::BareWork::from_mode(&mode) {
        Ok(work) => work,
        Err(message) => {
            eprintln!("write_bare_guest: {message}");
            std::process::exit(2);
        }
    };
    std::fs::write(&path, isolators::microvm::guest::bare_guest_elf(&work))
        .expect("cannot write the ELF");
}
