//! Builds `isobench-probe` as a static executable and places it in OUT_DIR for `include_bytes!`.
//!
//! The probe is std-only (plus `isobench-protocol`, which has no dependencies), so it is
//! compiled with rustc directly (no nested cargo, no locks): the protocol crate first, as an
//! rlib, then the probe against it. `+crt-static` for an explicit `--target` gives a static
//! binary with no interpreter and no needed libraries, the same bytes in every isolator.
//! `relocation-model=static` makes it a plain (non-PIE) static executable, so it need not
//! relocate itself at every start.
use std::{
    env,
    path::{Path, PathBuf},
    process::Command,
};

const TARGET: &str = "x86_64-unknown-linux-gnu";

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    let probe = build_probe(&manifest_dir, &out_dir);
    println!("cargo:rustc-env=ISOBENCH_PROBE_PATH={}", probe.display());
}

/// rustc with the flags every piece of the probe is built with (static, small, no unwinding).
fn static_rustc() -> Command {
    let mut rustc = Command::new(env::var("RUSTC").unwrap_or_else(|_| "rustc".into()));
    rustc
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .args(["--edition", "2021", "--target", TARGET])
        .args(["-C", "target-feature=+crt-static", "-C", "opt-level=2"])
        .args(["-C", "panic=abort", "-C", "codegen-units=1"])
        .args(["-C", "relocation-model=static"]);
    rustc
}

fn run(mut command: Command, what: &str) {
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("build.rs: cannot run {what}: {e}"));
    assert!(status.success(), "build.rs: {what} failed ({status})");
}

/// The protocol crate as an rlib, then the probe linked against it; returns the probe's path.
fn build_probe(manifest_dir: &Path, out_dir: &Path) -> PathBuf {
    let protocol_src = manifest_dir.join("protocol/src");
    let probe_src = manifest_dir.join("probe/src");
    println!("cargo:rerun-if-changed={}", protocol_src.display());
    println!("cargo:rerun-if-changed={}", probe_src.display());

    let rlib_dir = out_dir.join("probe-deps");
    std::fs::create_dir_all(&rlib_dir).expect("build.rs: cannot create OUT_DIR/probe-deps");
    let rlib = rlib_dir.join("libisobench_protocol.rlib");
    let mut protocol = static_rustc();
    protocol
        .args(["--crate-type", "rlib", "--crate-name", "isobench_protocol"])
        .arg("-o")
        .arg(&rlib)
        .arg(protocol_src.join("lib.rs"));
    run(protocol, "rustc (isobench-protocol rlib for the probe)");

    let output = out_dir.join("isobench-probe");
    let mut probe = static_rustc();
    probe
        .args(["--crate-type", "bin", "--crate-name", "isobench_probe"])
        .args(["-C", "strip=symbols"])
        .arg("--extern")
        .arg(format!("isobench_protocol={}", rlib.display()))
        .arg("-L")
        .arg(format!("dependency={}", rlib_dir.display()))
        .arg("-o")
        .arg(&output)
        .arg(probe_src.join("main.rs"));
    run(probe, "rustc (the static isobench-probe)");
    output
}
