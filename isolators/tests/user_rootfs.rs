//! `--rootfs` archives: tarballs, `docker save` archives and OCI layouts unpacked into the cache
//! (layers in order, whiteouts, hard links, device nodes skipped, digests checked), the cache
//! reused, and the tree's disk footprint (refusals: user_rootfs_refusals.rs). Every archive is
//! built here with the tar crate; the Debian and Docker checks use the real tools when present.
mod user_rootfs_support;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use isolators::user_workload::{tree_footprint, RootfsSource, UserRootfs};
use user_rootfs_support::*;

#[test]
fn tarballs_plain_or_compressed_unpack_the_same_tree() {
    let items = [
        Dir("usr/bin", 0o755),
        File("usr/bin/tool", b"#!/bin/sh\n", 0o755),
        Symlink("bin", "usr/bin"),
        Hard("usr/bin/tool-again", "usr/bin/tool"),
        File("etc/hostname", b"box\n", 0o644),
        Device("dev/null"),
    ];
    let plain = tar_of(&items);
    for (label, bytes) in [
        ("plain", plain.clone()),
        ("gzip", gzip(&plain)),
        ("xz", xz(&plain)),
        ("zstd", zstd(&plain)),
        ("bzip2", bzip2(&plain)),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let archive = write(dir.path(), "rootfs.bin", &bytes); // no telling extension
        let rootfs = UserRootfs::open(&archive).unwrap();
        assert_eq!(rootfs.source, RootfsSource::Tarball, "{label}");
        assert!(
            rootfs.tree.starts_with(cache()),
            "{label}: {:?}",
            rootfs.tree
        );
        assert_eq!(
            listing(&rootfs.tree),
            set(&[
                "bin",
                "dev",
                "etc",
                "etc/hostname",
                "usr",
                "usr/bin",
                "usr/bin/tool",
                "usr/bin/tool-again"
            ]),
            "{label}"
        );
        let tool = std::fs::metadata(rootfs.tree.join("usr/bin/tool")).unwrap();
        assert_eq!(tool.mode() & 0o7777, 0o755, "{label}");
        let again = std::fs::metadata(rootfs.tree.join("usr/bin/tool-again")).unwrap();
        assert_eq!(
            tool.ino(),
            again.ino(),
            "{label}: the hard link is one inode"
        );
        assert_eq!(
            std::fs::read_link(rootfs.tree.join("bin")).unwrap(),
            Path::new("usr/bin")
        );
        let unpacked = rootfs.unpacked.clone().unwrap();
        assert_eq!(
            unpacked.special_files_skipped, 1,
            "{label}: the device node"
        );
        let line = rootfs.describe();
        assert!(
            line.starts_with("tarball ") && line.contains("1 layer, sha256 "),
            "{line}"
        );
        assert!(line.contains("1 device nodes and FIFOs skipped"), "{line}");
        assert_eq!(unpacked.layers, 1);
    }
}

#[test]
fn docker_save_applies_layers_in_order_with_whiteouts_and_opaque_dirs() {
    let lower = tar_of(&[
        File("etc/a", b"a", 0o644),
        File("etc/b", b"b", 0o644),
        File("opt/keep/x", b"x", 0o644),
        File("opt/old/y", b"y", 0o644),
        Dir("opt/old/sub", 0o755),
        File("opt/old/sub/deep", b"deep", 0o644),
    ]);
    let upper = tar_of(&[
        File("etc/.wh.a", b"", 0o644),
        File("opt/old/z", b"z", 0o644), // written before the opaque marker: this layer's own
        File("opt/old/.wh..wh..opq", b"", 0o644),
        File("etc/b", b"b2", 0o600),
        File("new", b"n", 0o644),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let archive = docker_archive(
        &[("l1/layer.tar", lower), ("l2/layer.tar", gzip(&upper))],
        1,
    );
    let rootfs = UserRootfs::open(&write(dir.path(), "image.tar", &archive)).unwrap();
    assert_eq!(rootfs.source, RootfsSource::DockerArchive);
    assert_eq!(
        listing(&rootfs.tree),
        set(&[
            "etc",
            "etc/b",
            "new",
            "opt",
            "opt/keep",
            "opt/keep/x",
            "opt/old",
            "opt/old/z"
        ])
    );
    assert_eq!(std::fs::read(rootfs.tree.join("etc/b")).unwrap(), b"b2");
    let line = rootfs.describe();
    assert!(
        line.starts_with("docker save archive ") && line.contains("(2 layers"),
        "{line}"
    );
    assert_eq!(rootfs.unpacked.unwrap().layers, 2);
    assert_eq!(
        entries_of(rootfs.tree.parent().unwrap()),
        set(&["tree", "unpacked.json"]),
        "no staging or partial dir stays in the cache"
    );
}

#[test]
fn oci_layouts_unpack_with_digests_checked() {
    let layers = [
        gzip(&tar_of(&[
            File("etc/os-release", b"ID=test\n", 0o644),
            File("gone", b"g", 0o644),
        ])),
        tar_of(&[File(".wh.gone", b"", 0o644), File("srv/data", b"d", 0o640)]),
    ];
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    oci_layout(&layout, &layers);
    let from_dir = UserRootfs::open(&layout).unwrap();
    assert_eq!(from_dir.source, RootfsSource::OciLayout);
    let expected = set(&["etc", "etc/os-release", "srv", "srv/data"]);
    assert_eq!(listing(&from_dir.tree), expected);

    let tarball = write(dir.path(), "layout.tar", &tar_of_dir(&layout));
    let from_tar = UserRootfs::open(&tarball).unwrap();
    assert_eq!(from_tar.source, RootfsSource::OciLayout);
    assert_eq!(listing(&from_tar.tree), expected);

    // A layer whose bytes do not match the digest it is stored under.
    let bad = dir.path().join("bad");
    let (blobs, manifest_key) = oci_layout(&bad, &[tar_of(&[File("other", b"o", 0o644)])]);
    std::fs::write(&blobs[0], tar_of(&[File("other", b"TAMPERED", 0o644)])).unwrap();
    let error = UserRootfs::open(&bad).unwrap_err().to_string();
    assert!(
        error.contains("corrupt image") && error.contains("digest"),
        "{error}"
    );
    let entry = cache().join("rootfs").join(manifest_key);
    assert_eq!(
        entries_of(&entry),
        set(&[]),
        "nothing cached for the tampered layout"
    );
}

#[test]
fn a_second_open_reuses_the_unpacked_tree() {
    let archive = gzip(&tar_of(&[File("data", &vec![1u8; 4 << 20], 0o644)]));
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "reuse.tgz", &archive);
    let first = UserRootfs::open(&path).unwrap();
    let inode = std::fs::metadata(first.tree.join("data")).unwrap().ino();
    let started = std::time::Instant::now();
    let second = UserRootfs::open(&path).unwrap();
    eprintln!("second open of a 4 MiB tarball: {:?}", started.elapsed());
    assert_eq!(second.tree, first.tree);
    assert_eq!(
        std::fs::metadata(second.tree.join("data")).unwrap().ino(),
        inode,
        "not unpacked again"
    );
    assert_eq!(second.unpacked, first.unpacked);
}

#[test]
fn the_footprint_counts_hard_links_once() {
    let tree = tempfile::tempdir().unwrap();
    std::fs::write(tree.path().join("one"), vec![3u8; 1 << 20]).unwrap();
    std::fs::hard_link(tree.path().join("one"), tree.path().join("two")).unwrap();
    std::os::unix::fs::symlink("one", tree.path().join("three")).unwrap();
    std::fs::create_dir(tree.path().join("sub")).unwrap();
    std::fs::write(tree.path().join("sub/small"), b"12345").unwrap();
    let footprint = tree_footprint(tree.path()).unwrap();
    assert_eq!(footprint.apparent_bytes, (1 << 20) + 5);
    assert_eq!(footprint.files, 2);
    assert!(footprint.allocated_bytes >= 1 << 20, "{footprint:?}");
    assert!(
        footprint.allocated_bytes < 2 << 20,
        "counted twice: {footprint:?}"
    );
    let rootfs = UserRootfs::open(tree.path()).unwrap();
    assert_eq!(rootfs.footprint().unwrap(), footprint);
    assert_eq!(rootfs.apparent_bytes().unwrap(), footprint.apparent_bytes);
}

#[test]
fn the_debian_rootfs_tarball_unpacks_like_its_directory() {
    let (dir, tar) = (Path::new(DEBIAN_ROOTFS), format!("{DEBIAN_ROOTFS}.tar"));
    let ready = dir.join(".isobench-complete").is_file() && Path::new(&tar).is_file();
    let why = format!("{DEBIAN_ROOTFS}(.tar) missing: run scripts/make-debian-rootfs.sh");
    if !test_gate::run_if(
        "debian_rootfs_tarball",
        "debian-rootfs",
        if ready { Ok(()) } else { Err(why) },
    ) {
        return;
    }
    cache();
    let started = std::time::Instant::now();
    let rootfs = UserRootfs::open(Path::new(&tar)).unwrap();
    let unpack = started.elapsed();
    let started = std::time::Instant::now();
    let again = UserRootfs::open(Path::new(&tar)).unwrap();
    let reuse = started.elapsed();
    eprintln!("Debian tarball: unpacked in {unpack:?}, reused in {reuse:?}");
    assert_eq!(again.tree, rootfs.tree);
    assert!(reuse < unpack, "reuse {reuse:?} vs unpack {unpack:?}");
    let unpacked = tree_footprint(&rootfs.tree).unwrap();
    let original = tree_footprint(dir).unwrap();
    let marker_bytes = std::fs::metadata(dir.join(".isobench-complete"))
        .unwrap()
        .len();
    eprintln!("Debian rootfs: {unpacked:?}, {:?}", rootfs.unpacked);
    assert_eq!(
        unpacked.apparent_bytes,
        original.apparent_bytes - marker_bytes
    );
    assert_eq!(
        unpacked.files,
        original.files - 1,
        "all but .isobench-complete"
    );
    assert!(
        rootfs.tree.join("usr/bin/python3").exists() && rootfs.tree.join("bin/busybox").exists()
    );
}

#[test]
fn a_real_docker_save_unpacks() {
    if !test_gate::run_if("docker_save_unpacks", "docker", docker_running()) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let saved = docker_save_of_busybox_tree(dir.path());
    let rootfs = UserRootfs::open(&saved).unwrap();
    assert!(matches!(
        rootfs.source,
        RootfsSource::DockerArchive | RootfsSource::OciLayout
    ));
    assert!(
        rootfs.tree.join("bin/busybox").is_file(),
        "{:?}",
        listing(&rootfs.tree)
    );
    assert_eq!(
        std::fs::read(rootfs.tree.join("etc/marker")).unwrap(),
        b"isobench\n"
    );
}
