//! Builds `isobench-probe` as a static executable and places it in OUT_DIR for `include_bytes!`.
//!
//! The probe is std-only, so it is compiled with rustc directly (no nested cargo, no locks):
//! `+crt-static` for an explicit `--target` gives a static binary with no interpreter and no
//! needed libraries, the same bytes in every isolator. `relocation-model=static` makes it a
//! plain (non-PIE) static executable, so it need not relocate itself at every start.
use std::{env, path::PathBuf, process::Command};

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    let probe_src = manifest_dir.join("probe/src");
    println!("cargo:rerun-if-changed={}", probe_src.display());
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let output = out_dir.join("isobench-probe");
    let status = Command::new(rustc)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .args([
            "--edition",
            "2021",
            "--crate-type",
            "bin",
            "--crate-name",
            "isobench_probe",
        ])
        .args(["--target", "x86_64-unknown-linux-gnu"])
        .args([
            "-C",
            "target-feature=+crt-static",
            "-C",
            "opt-level=2",
            "-C",
            "panic=abort",
        ])
        .args([
            "-C",
            "strip=symbols",
            "-C",
            "codegen-units=1",
            "-C",
            "relocation-model=static",
        ])
        .arg("-o")
        .arg(&output)
        .arg(probe_src.join("main.rs"))
        .status()
        .expect("build.rs: cannot run rustc to build isobench-probe");
    assert!(
        status.success(),
        "build.rs: rustc failed to build the static isobench-probe"
    );
    println!("cargo:rustc-env=ISOBENCH_PROBE_PATH={}", output.display());
}
