//! The user's workload (`--rootfs/--cmd/--ready`) in the Linux-guest VM rows, prepared: the
//! initramfs made of a busybox-static tree (read back with cpio(1)), guest RAM sized from it
//! and a too-small `--mem-mib` refused before any boot, every Linux row preparing the same
//! guest, the bare and snapshot rows refusing in one line. Boots: user_workload_vms_boot.rs
//! (the emulated row) and nested_user_workload.rs (`microvm-linux` on nested KVM, since this
//! host's KVM cannot boot Linux).
mod user_vm_support;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use isolators::external::vmms::qemu::qemu_tcg;
use isolators::microvm::user_guest::needed_guest_mem_mib;
use isolators::microvm::user_initramfs::InitramfsPlan;
use isolators::protocol::user_command::UserCommand;
use isolators::testing::{check_on_path, run_if};
use isolators::{Availability, Host, Isolator, Workload};
use user_vm_support::{
    busybox_tree, check_guest_kernel, options, qemu_tcg_gate, sha256sum_exit_0, workload,
};

fn cpio(args: &[&str], archive: &Path, dir: &Path) -> String {
    let output = Command::new("cpio")
        .args(args)
        .arg("-F")
        .arg(archive)
        .current_dir(dir)
        .output()
        .expect("cpio(1) is needed for this test: apt-get install cpio");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_initramfs_holds_the_tree_with_the_probe_as_init_and_the_spec() {
    let dir = tempfile::tempdir().unwrap();
    let root = busybox_tree(dir.path());
    let user = workload(&root, sha256sum_exit_0());
    let plan = InitramfsPlan::for_workload(&user).unwrap();
    let archive = dir.path().join("user.cpio");
    plan.write(&archive).unwrap();
    assert_eq!(
        std::fs::metadata(&archive).unwrap().len(),
        plan.archive_bytes
    );
    let special = if root.join("dev/null").exists() { 2 } else { 1 };
    assert_eq!(plan.skipped_special_files, special);

    let names = cpio(&["-t", "--quiet"], &archive, dir.path());
    let names: Vec<&str> = names.lines().collect();
    let expected = [
        "proc",
        "sys",
        "tmp",
        "run", // the mount points the tree lacks, first
        "bin",
        "bin/busybox",
        "bin/echo",
        "bin/httpd",
        "bin/sh",
        "bin/sha256sum",
        "bin/sleep",
        "data",
        "data/input",
        "data/input-link",
        "dev", // no fifo, no dev/null
        "dev/console",
        "init",
        "isobench-workload",
    ];
    assert_eq!(names, expected);
    let listing = cpio(&["-t", "-v", "--quiet"], &archive, dir.path());
    let line = |name: &str| {
        listing
            .lines()
            .find(|l| l.ends_with(&format!(" {name}")) || l.contains(&format!(" {name} -> ")))
            .unwrap_or_else(|| panic!("{name} not listed: {listing}"))
            .to_string()
    };
    assert!(line("bin/sh").starts_with("lrwxrwxrwx") && line("bin/sh").ends_with("-> busybox"));
    assert!(line("dev/console").starts_with("crw-------"), "{listing}");
    assert!(line("init").starts_with("-rwxr-xr-x"), "{listing}");
    assert!(line("tmp").starts_with("drwxrwxrwt"), "{listing}");
    // Both names of the hard link say 2 links.
    for name in ["data/input", "data/input-link"] {
        assert_eq!(line(name).split_whitespace().nth(1), Some("2"), "{listing}");
    }

    let out = dir.path().join("unpacked");
    std::fs::create_dir(&out).unwrap();
    cpio(
        &["-i", "-d", "--quiet", "--no-absolute-filenames"],
        &archive,
        &out,
    );
    assert_eq!(
        std::fs::read(out.join("init")).unwrap(),
        isolators::probe::PROBE_BYTES
    );
    assert_eq!(
        std::fs::read(out.join("bin/busybox")).unwrap(),
        std::fs::read(root.join("bin/busybox")).unwrap()
    );
    assert_eq!(
        std::fs::read_link(out.join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
    let (a, b) = (out.join("data/input"), out.join("data/input-link"));
    assert_eq!(std::fs::read(&a).unwrap(), b"isobench user workload\n");
    assert_eq!(
        std::fs::metadata(&a).unwrap().ino(),
        std::fs::metadata(&b).unwrap().ino()
    );
    let spec = std::fs::read_to_string(out.join("isobench-workload")).unwrap();
    assert_eq!(UserCommand::from_spec(&spec).unwrap(), user.command);
    // The user's tree is read, never written to.
    assert_eq!(
        std::fs::read(root.join("init")).unwrap(),
        b"#!/bin/sh\necho not the probe\n"
    );
    assert!(!root.join("isobench-workload").exists() && !root.join("proc").exists());
}

#[test]
fn bare_and_snapshot_rows_say_in_one_line_why_they_cannot_run_it() {
    let dir = tempfile::tempdir().unwrap();
    let user = workload(&busybox_tree(dir.path()), sha256sum_exit_0());
    let host = Host::detect();
    let all = isolators::registry::all(&options(&user, None));
    let reason = |name: &str| {
        let isolator = all.iter().find(|i| i.name() == name).unwrap();
        match isolator.availability(&host) {
            Availability::Unavailable { reason } => reason,
            Availability::Available => panic!("{name} claims it can run a user workload"),
        }
    };
    for bare in [
        "microvm",
        "microvm-restore",
        "microvm-restore-prestarted",
        "qemu-microvm",
        "firecracker",
        "firecracker-restore",
        "cloud-hypervisor",
    ] {
        let reason = reason(bare);
        assert!(
            reason.starts_with("the bare guest has no OS to run a command in; use microvm-linux"),
            "{bare}: {reason}"
        );
    }
    let reason = reason("microvm-linux-restore");
    assert!(
        reason.starts_with("microvm-linux-restore resumes a snapshot") && !reason.contains('\n'),
        "{reason}"
    );
    // The host's own root cannot be a guest's initramfs.
    let host_root = workload(Path::new("/"), sha256sum_exit_0());
    for isolator in isolators::registry::all(&options(&host_root, None)) {
        if isolator.guest() == isolators::GuestKind::Linux && !isolator.warm_start() {
            match isolator.availability(&host) {
                Availability::Unavailable { reason } => {
                    assert!(
                        reason.contains("host's own root"),
                        "{}: {reason}",
                        isolator.name()
                    )
                }
                Availability::Available => panic!("{} would boot /", isolator.name()),
            }
        }
    }
}

#[test]
fn guest_ram_comes_from_the_archive_and_too_little_is_refused_before_any_boot() {
    let test = "guest_ram_comes_from_the_archive_and_too_little_is_refused_before_any_boot";
    if !qemu_tcg_gate(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let user = workload(&busybox_tree(dir.path()), sha256sum_exit_0());
    let needed = needed_guest_mem_mib(InitramfsPlan::for_workload(&user).unwrap().archive_bytes);
    let isolator = qemu_tcg(&options(&user, None));
    let notes = isolator.describe().notes.join("\n");
    assert!(
        notes.contains("the initramfs holds the user's rootfs")
            && notes.contains(&format!("guest RAM {needed} MiB (2 × archive + 128 MiB")),
        "{notes}"
    );
    let scratch = tempfile::tempdir().unwrap();
    let error = qemu_tcg(&options(&user, Some(64)))
        .prepare(&"exec".parse::<Workload>().unwrap(), scratch.path())
        .expect_err("64 MiB is too little for any user rootfs")
        .to_string();
    assert!(
        error.contains(&format!(
            "needs about {needed} MiB of guest RAM; pass --mem-mib {needed} or a smaller rootfs"
        )) && !error.contains('\n'),
        "{error}"
    );
    let written: Vec<_> = std::fs::read_dir(scratch.path())
        .unwrap()
        .flatten()
        .collect();
    assert!(written.is_empty(), "refused, yet wrote {written:?}");
}

/// Every Linux-guest row whose VMM is installed prepares the same guest: one initramfs of the
/// same size and the same guest RAM (Firecracker's config file says it). Prepared only: on a
/// host whose KVM cannot run Linux, the KVM rows cannot boot it (the nested test boots ours).
#[test]
fn every_linux_row_prepares_the_same_initramfs_and_guest_ram() {
    use isolators::external::vmms::{cloud_hypervisor, firecracker, qemu};
    let test = "every_linux_row_prepares_the_same_initramfs_and_guest_ram";
    if !run_if(test, "guest-kernel", check_guest_kernel()) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let user = workload(&busybox_tree(dir.path()), sha256sum_exit_0());
    let needed = needed_guest_mem_mib(InitramfsPlan::for_workload(&user).unwrap().archive_bytes);
    let options = options(&user, None);
    let rows: Vec<(&str, Box<dyn Isolator>)> = vec![
        ("qemu-system-x86_64", Box::new(qemu::qemu_tcg(&options))),
        (
            "qemu-system-x86_64",
            Box::new(qemu::qemu_microvm_linux(&options)),
        ),
        (
            "firecracker",
            Box::new(firecracker::firecracker_linux(&options)),
        ),
        (
            "cloud-hypervisor",
            Box::new(cloud_hypervisor::cloud_hypervisor_linux(&options)),
        ),
    ];
    let exec: Workload = "exec".parse().unwrap();
    let mut sizes = Vec::new();
    for (program, isolator) in rows {
        if check_on_path(program).is_err() {
            eprintln!(
                "{test}: {program} is not on PATH, {} not prepared",
                isolator.name()
            );
            continue;
        }
        let scratch = tempfile::tempdir().unwrap();
        let launcher = isolator.prepare(&exec, scratch.path()).unwrap();
        let initramfs = scratch.path().join("user-initramfs.cpio");
        let disk = launcher.disk();
        assert!(
            disk.image_files
                .contains(&initramfs.to_string_lossy().into_owned()),
            "{}: {disk:?}",
            isolator.name()
        );
        sizes.push((
            isolator.name().to_string(),
            std::fs::metadata(&initramfs).unwrap().len(),
        ));
        if isolator.name() == "firecracker-linux" {
            let config = std::fs::read_to_string(scratch.path().join("firecracker.json")).unwrap();
            let config: serde_json::Value = serde_json::from_str(&config).unwrap();
            assert_eq!(config["machine-config"]["mem_size_mib"], needed, "{config}");
            let boot_args = config["boot-source"]["boot_args"].as_str().unwrap();
            assert!(
                boot_args.contains("ISOBENCH_MODE=exec rootfstype=ramfs"),
                "{boot_args}"
            );
        }
        drop(launcher);
    }
    assert!(!sizes.is_empty());
    assert!(sizes.windows(2).all(|w| w[0].1 == w[1].1), "{sizes:?}");
    eprintln!("{test}: {sizes:?}, guest RAM {needed} MiB");
}
