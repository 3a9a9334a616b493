//! Builds the two executables the `isolators` crate embeds with `include_bytes!`: the static
//! `isobench-probe` and the static `isobench-vmm`, both placed in OUT_DIR.
//!
//! The probe is std-only (plus `isobench-protocol`, which has no dependencies), so it is
//! compiled with rustc directly (no nested cargo, no locks): the protocol crate first, as an
//! rlib, then the probe against it. `+crt-static` for an explicit `--target` gives a static
//! binary with no interpreter and no needed libraries, the same bytes in every isolator.
//! `relocation-model=static` makes it a plain (non-PIE) static executable, so it need not
//! relocate itself at every start.
//!
//! The VMM has crate dependencies (rust-vmm), so it takes a nested `cargo build --release -p
//! isobench-vmm` in its own target directory so it never waits on the
//! lock the outer cargo holds.
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
    let vmm = build_vmm(&manifest_dir, &out_dir);
    println!("cargo:rustc-env=ISOBENCH_VMM_PATH={}", vmm.path.display());
    println!("cargo:rustc-env=ISOBENCH_VMM_HASH={}", vmm.hash);
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

/// The VMM as built for embedding: its path in OUT_DIR and a hash of its bytes.
struct BuiltVmm {
    path: PathBuf,
    hash: String,
}

/// Variables of the outer cargo the nested one must not see: its rustflags (they would replace
/// the workspace's `+crt-static`), its target dir, profile and build settings, the wrapper
/// clippy installs. Kept: where the registry is and how to reach it, and the jobserver
/// (`CARGO_MAKEFLAGS`), so both builds share the same cores.
fn scrub_outer_cargo(cargo: &mut Command) {
    const KEEP: [&str; 7] = [
        "CARGO_HOME",
        "CARGO_MAKEFLAGS",
        "CARGO_NET_",
        "CARGO_HTTP_",
        "CARGO_REGISTRIES_",
        "CARGO_REGISTRY_",
        "CARGO_SOURCE_",
    ];
    for (key, _) in env::vars_os() {
        let Some(name) = key.to_str() else { continue };
        let outer = name.starts_with("CARGO_") && !KEEP.iter().any(|k| name.starts_with(k));
        if outer
            || matches!(
                name,
                "RUSTFLAGS" | "RUSTDOCFLAGS" | "RUSTC_WORKSPACE_WRAPPER"
            )
        {
            cargo.env_remove(key);
        }
    }
}

/// Where the nested build keeps its artifacts: `<target dir>/vmm`, shared by every profile of
/// the outer build (OUT_DIR is `<target dir>/<triple>/<profile>/build/<pkg>-<hash>/out`), or
/// OUT_DIR itself when the layout is not that one.
fn vmm_target_dir(out_dir: &Path) -> PathBuf {
    let profile_dir = out_dir
        .ancestors()
        .nth(3)
        .filter(|_| out_dir.ancestors().nth(2).and_then(Path::file_name) == Some("build".as_ref()));
    match profile_dir.and_then(Path::parent) {
        Some(triple_dir) if triple_dir.file_name() == Some(TARGET.as_ref()) => {
            triple_dir.parent().unwrap_or(triple_dir).join("vmm")
        }
        Some(target_dir) => target_dir.join("vmm"),
        None => out_dir.join("vmm-target"),
    }
}

/// FNV-1a, 64 bits: names the extracted copy after its contents.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `cargo build --release --locked -p isobench-vmm` for the workspace's static target, in its
/// own target directory; copies the binary into OUT_DIR.
fn build_vmm(manifest_dir: &Path, out_dir: &Path) -> BuiltVmm {
    let workspace = manifest_dir
        .parent()
        .expect("build.rs: isolators/ has a parent (the workspace)");
    for input in ["vmm", "protocol"] {
        println!(
            "cargo:rerun-if-changed={}",
            manifest_dir.join(input).display()
        );
    }
    for input in ["Cargo.toml", "Cargo.lock", ".cargo/config.toml"] {
        println!("cargo:rerun-if-changed={}", workspace.join(input).display());
    }
    let target_dir = vmm_target_dir(out_dir);
    let mut cargo = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    scrub_outer_cargo(&mut cargo);
    // The working directory picks .cargo/config.toml (static linking) up, as for the outer build.
    cargo
        .current_dir(workspace)
        .args(["build", "--release", "--locked", "-p", "isobench-vmm"])
        .args(["--target", TARGET])
        .arg("--target-dir")
        .arg(&target_dir);
    let output = cargo
        .output()
        .unwrap_or_else(|e| panic!("build.rs: cannot run cargo to build isobench-vmm: {e}"));
    assert!(
        output.status.success(),
        "build.rs: `cargo build --release -p isobench-vmm` (target dir {}) failed ({}):\n{}",
        target_dir.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let built = target_dir.join(TARGET).join("release/isobench-vmm");
    let bytes = std::fs::read(&built)
        .unwrap_or_else(|e| panic!("build.rs: cannot read {}: {e}", built.display()));
    let path = out_dir.join("isobench-vmm");
    std::fs::write(&path, &bytes)
        .unwrap_or_else(|e| panic!("build.rs: cannot write {}: {e}", path.display()));
    BuiltVmm {
        path,
        hash: format!("{:016x}", fnv1a64(&bytes)),
    }
}
