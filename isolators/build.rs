//! Builds the two executables the `isolators` crate embeds with `include_bytes!`: the static
//! `isobench-probe` and the static `isobench-vmm`, both placed in OUT_DIR.
//!
//! Both have crate dependencies (the probe: isobench-protocol and regex-lite for `exec` mode's
//! `log:REGEX` check; the VMM: rust-vmm), so each takes a nested `cargo build --release
//! --locked -p …` in its own target directory (`<target dir>/probe`, `<target dir>/vmm`), so it
//! never waits on the lock the outer cargo holds, and the lock file pins every version.
//!
//! Both are built for `x86_64-unknown-linux-musl` when that target's std is installed
//! (`rustup target add x86_64-unknown-linux-musl`; `.ci/run` adds it), else for the glibc target
//! with a build warning. Why musl: glibc's static start-up probes the CPU with about 60 CPUID
//! instructions (cpu features, cache geometry for its string functions), and where CPUID traps
//! to the hypervisor, as on this project's build host (~4 µs each), that was ~330 µs of the
//! probe's ~560 µs spawn-to-exit, paid by every isolator's every launch, and the same again in
//! the VMM's exec. musl's start-up runs none. `ISOBENCH_STATIC_LIBC` tells the crate which.
//!
//! The probe is built with `+crt-static` for an explicit `--target` (a static binary with no
//! interpreter and no needed libraries, the same bytes in every isolator),
//! `relocation-model=static` (a plain non-PIE executable that need not relocate itself at every
//! start), panic=abort, one codegen unit and stripped symbols: the flags it had when it was
//! compiled with rustc alone, given to the nested cargo through RUSTFLAGS and profile variables.
use std::{
    env,
    path::{Path, PathBuf},
    process::Command,
};

/// The outer build's target (.cargo/config.toml): where OUT_DIR sits.
const TARGET: &str = "x86_64-unknown-linux-gnu";
/// The target of the embedded static binaries, when its std is installed.
const MUSL_TARGET: &str = "x86_64-unknown-linux-musl";

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    let static_target = static_target();
    let libc = if static_target == MUSL_TARGET {
        "musl"
    } else {
        "glibc"
    };
    println!("cargo:rustc-env=ISOBENCH_STATIC_LIBC={libc}");
    let probe = build_probe(&manifest_dir, &out_dir, static_target);
    println!("cargo:rustc-env=ISOBENCH_PROBE_PATH={}", probe.display());
    let vmm = build_vmm(&manifest_dir, &out_dir, static_target);
    println!("cargo:rustc-env=ISOBENCH_VMM_PATH={}", vmm.path.display());
    println!("cargo:rustc-env=ISOBENCH_VMM_HASH={}", vmm.hash);
}

/// musl when rustc has its std (the target's library dir holds a libstd), else glibc's target,
/// with a warning: every launch then pays glibc's start-up (see the module's doc).
fn static_target() -> &'static str {
    println!("cargo:rerun-if-env-changed=RUSTUP_TOOLCHAIN");
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let libdir = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", MUSL_TARGET])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()));
    // Installing (or removing) the target changes that directory: build again then. While it
    // is missing, cargo takes the path as changed and reruns this script on every build, so a
    // target added later is picked up.
    if let Some(dir) = &libdir {
        println!("cargo:rerun-if-changed={}", dir.display());
    }
    let has_std = libdir
        .and_then(|dir| std::fs::read_dir(dir).ok())
        .is_some_and(|mut entries| {
            entries.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("libstd-")))
        });
    if has_std {
        return MUSL_TARGET;
    }
    println!(
        "cargo:warning=no {MUSL_TARGET} std installed: the probe and isobench-vmm are built \
         with glibc, whose static start-up adds ~0.3 ms to every launch where CPUID traps \
         (rustup target add {MUSL_TARGET})"
    );
    TARGET
}

fn run(mut command: Command, what: &str) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("build.rs: cannot run {what}: {e}"));
    assert!(
        output.status.success(),
        "build.rs: {what} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A nested `cargo build --release --locked -p <package>` for the static target in
/// `<target dir>/<package>`'s own directory, started from the workspace so it reads
/// .cargo/config.toml as the outer build does; returns the built binary's path.
fn nested_cargo(
    manifest_dir: &Path,
    out_dir: &Path,
    package: &str,
    target: &str,
    configure: impl FnOnce(&mut Command),
) -> PathBuf {
    let workspace = manifest_dir
        .parent()
        .expect("build.rs: isolators/ has a parent (the workspace)");
    for input in ["Cargo.toml", "Cargo.lock", ".cargo/config.toml"] {
        println!("cargo:rerun-if-changed={}", workspace.join(input).display());
    }
    let target_dir = nested_target_dir(out_dir, package);
    let mut cargo = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    scrub_outer_cargo(&mut cargo);
    cargo
        .current_dir(workspace)
        .args(["build", "--release", "--locked", "-p", package])
        .args(["--target", target])
        .arg("--target-dir")
        .arg(&target_dir);
    configure(&mut cargo);
    run(
        cargo,
        &format!(
            "`cargo build --release -p {package}` (target dir {})",
            target_dir.display()
        ),
    );
    target_dir.join(target).join("release").join(package)
}

/// The probe, built by a nested cargo with the flags of a static, non-PIE, panic=abort,
/// stripped executable, copied into OUT_DIR; returns its path there.
fn build_probe(manifest_dir: &Path, out_dir: &Path, target: &str) -> PathBuf {
    for input in ["probe", "protocol"] {
        println!(
            "cargo:rerun-if-changed={}",
            manifest_dir.join(input).display()
        );
    }
    let built = nested_cargo(manifest_dir, out_dir, "isobench-probe", target, |cargo| {
        // RUSTFLAGS replaces the config's target rustflags, so +crt-static is repeated here.
        // With an explicit --target they apply to the probe's crates only, never to build scripts.
        cargo
            .env(
                "RUSTFLAGS",
                "-C target-feature=+crt-static -C relocation-model=static",
            )
            .env("CARGO_PROFILE_RELEASE_PANIC", "abort")
            .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "2")
            .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1")
            .env("CARGO_PROFILE_RELEASE_STRIP", "symbols");
    });
    let output = out_dir.join("isobench-probe");
    std::fs::copy(&built, &output).unwrap_or_else(|e| {
        panic!(
            "build.rs: cannot copy {} to {}: {e}",
            built.display(),
            output.display()
        )
    });
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

/// Where a nested build keeps its artifacts: `<target dir>/vmm` or `<target dir>/probe`, shared
/// by every profile of the outer build (OUT_DIR is
/// `<target dir>/<triple>/<profile>/build/<pkg>-<hash>/out`), or under OUT_DIR itself when the
/// layout is not that one.
fn nested_target_dir(out_dir: &Path, package: &str) -> PathBuf {
    let name = package.strip_prefix("isobench-").unwrap_or(package);
    let profile_dir = out_dir
        .ancestors()
        .nth(3)
        .filter(|_| out_dir.ancestors().nth(2).and_then(Path::file_name) == Some("build".as_ref()));
    match profile_dir.and_then(Path::parent) {
        Some(triple_dir) if triple_dir.file_name() == Some(TARGET.as_ref()) => {
            triple_dir.parent().unwrap_or(triple_dir).join(name)
        }
        Some(target_dir) => target_dir.join(name),
        None => out_dir.join(format!("{name}-target")),
    }
}

/// FNV-1a, 64 bits: names the extracted copy after its contents.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The VMM, built by a nested cargo with the workspace's release profile; copied into OUT_DIR.
fn build_vmm(manifest_dir: &Path, out_dir: &Path, target: &str) -> BuiltVmm {
    for input in ["vmm", "protocol"] {
        println!(
            "cargo:rerun-if-changed={}",
            manifest_dir.join(input).display()
        );
    }
    let built = nested_cargo(manifest_dir, out_dir, "isobench-vmm", target, |_| {});
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
