//! Writes the bare PVH guest to a file, for trying it in other VMMs:
//! `cargo run -p isolators --example write_bare_guest -- bare.elf [TOUCH_MIB]`.
fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: write_bare_guest OUTPUT.elf [TOUCH_MIB]");
        std::process::exit(2);
    };
    let touch_mib = args
        .next()
        .map_or(0, |m| m.parse().expect("TOUCH_MIB must be a whole number"));
    std::fs::write(&path, isolators::microvm::guest::bare_guest_elf(touch_mib))
        .expect("cannot write the ELF");
}
