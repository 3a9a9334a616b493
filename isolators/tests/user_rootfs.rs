//! `--rootfs` archives: tarballs, `docker save` archives and OCI layouts unpacked into the cache
//! (layers in order, whiteouts, hard links, device nodes skipped), escapes and corrupt archives
//! refused with nothing left in the cache, the cache reused, and the tree's disk footprint.
//! Every archive is built here with the tar crate; the Debian and Docker checks use the real
//! tools when present.
mod user_rootfs_support;

use std::collections::BTreeSet;
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
    assert_eq!(rootfs.unpacked.unwrap().layers, 2);
    assert_eq!(
        entries_of(rootfs.tree.parent().unwrap()),
        set(&["tree", "unpacked.json"]),
        "no staging or partial dir stays in the cache"
    );
}

#[test]
fn docker_save_of_several_images_is_refused() {
    let layer = tar_of(&[File("a", b"a", 0o644)]);
    let archive = docker_archive(&[("l1/layer.tar", layer)], 2);
    let dir = tempfile::tempdir().unwrap();
    let error = UserRootfs::open(&write(dir.path(), "two.tar", &archive))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("holds 2 images") && error.contains("one image per archive"),
        "{error}"
    );
    assert_nothing_cached(&archive);
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
fn entries_with_dot_dot_or_absolute_paths_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    for (name, what) in [
        ("../x", "`..`"),
        ("a/../../x", "`..`"),
        ("/abs", "absolute"),
    ] {
        let archive = tar_of(&[Dir("ok", 0o755), File(name, b"x", 0o644)]);
        let error = open_bytes(&archive).unwrap_err().to_string();
        assert!(
            error.contains(&format!("entry `{name}`")) && error.contains(what),
            "{error}"
        );
        assert!(error.contains("refused"), "{error}");
        assert_nothing_cached(&archive);
    }
    assert_eq!(entries_of(outside.path()), set(&[]));
}

#[test]
fn writing_through_a_symlink_of_a_lower_layer_is_refused() {
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().to_str().unwrap().to_owned();
    for link in [target.as_str(), "../../../../../../../../tmp"] {
        let lower = tar_of(&[Symlink("etc", link)]);
        let upper = tar_of(&[File("etc/passwd", b"root::0:0::/:/bin/sh\n", 0o644)]);
        let archive = docker_archive(&[("l1/layer.tar", lower), ("l2/layer.tar", upper)], 1);
        let error = open_bytes(&archive).unwrap_err().to_string();
        assert!(
            error.contains("entry `etc/passwd`") && error.contains("symlink etc"),
            "{error}"
        );
        assert_nothing_cached(&archive);
    }
    assert_eq!(
        entries_of(outside.path()),
        set(&[]),
        "nothing written outside"
    );
    assert!(!Path::new("/tmp/passwd").exists());
}

#[test]
fn hard_links_leaving_the_root_are_refused() {
    let archive = tar_of(&[Hard("shadow", "../../etc/shadow")]);
    let error = open_bytes(&archive).unwrap_err().to_string();
    assert!(
        error.contains("entry `shadow`") && error.contains("hard link to ../../etc/shadow"),
        "{error}"
    );
    assert_nothing_cached(&archive);
    let archive = tar_of(&[Hard("passwd", "/etc/passwd")]);
    let error = open_bytes(&archive).unwrap_err().to_string();
    assert!(
        error.contains("entry `passwd`") && error.contains("outside"),
        "{error}"
    );
}

#[test]
fn corrupt_and_truncated_archives_are_one_line_and_leave_nothing() {
    let good = tar_of(&[
        File("big", &vec![7u8; 64 * 1024], 0o644),
        File("after", b"a", 0o644),
    ]);
    let mut bad_gzip = gzip(&good);
    let middle = bad_gzip.len() / 2;
    bad_gzip[middle..middle + 64].fill(0x55);
    let cut_in_a_file = good[..512 + 10_000].to_vec();
    let cut_at_an_entry = good[..512 + 64 * 1024].to_vec();
    let truncated_gzip = gzip(&good)[..200].to_vec();
    let missing_layer = docker_archive_without_layer();
    for (label, bytes) in [
        ("bad gzip", bad_gzip),
        ("cut in a file", cut_in_a_file),
        ("cut at an entry", cut_at_an_entry),
        ("truncated gzip", truncated_gzip),
        ("missing layer", missing_layer),
    ] {
        let error = open_bytes(&bytes).unwrap_err().to_string();
        assert!(error.contains("corrupt image"), "{label}: {error}");
        assert!(!error.contains('\n'), "{label}: one line: {error}");
        assert_nothing_cached(&bytes);
    }
    let error = open_bytes(b"just some text, not an archive")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("not a directory nor a tar archive"),
        "{error}"
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

/// Set in the child process of the test below: the archive it unpacks until it is killed.
const KILLED_CHILD_ARCHIVE: &str = "ISOBENCH_TEST_KILLED_UNPACK";

#[test]
fn an_unpack_killed_midway_leaves_no_tree_and_its_leftover_is_removed_next_time() {
    if let Some(archive) = std::env::var_os(KILLED_CHILD_ARCHIVE) {
        let _ = UserRootfs::open(Path::new(&archive)); // killed before it returns
        return;
    }
    // 20,000 small files: long enough to unpack that the kill lands midway.
    let names: Vec<String> = (0..20_000).map(|i| format!("d{}/f{i}", i % 50)).collect();
    let items: Vec<Item> = names
        .iter()
        .map(|n| File(n, b"0123456789", 0o644))
        .collect();
    let archive = tar_of(&items);
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "many.tar", &archive);
    let entry = cache().join("rootfs").join(sha256_hex(&archive));
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "an_unpack_killed_midway_leaves_no_tree_and_its_leftover_is_removed_next_time",
        ])
        .env(KILLED_CHILD_ARCHIVE, &path)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !entries_of(&entry)
        .iter()
        .any(|n| n.starts_with(".partial-"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the child never started unpacking"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the child finished before it was killed"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let left = entries_of(&entry);
    assert!(
        !left.contains("tree"),
        "a half tree must never be in place: {left:?}"
    );
    assert_eq!(
        left.len(),
        1,
        "only the killed child's partial dir: {left:?}"
    );
    let rootfs = UserRootfs::open(&path).unwrap();
    assert_eq!(listing(&rootfs.tree).len(), 50 + 20_000);
    assert_eq!(
        entries_of(&entry),
        set(&["tree", "unpacked.json"]),
        "the leftover is gone"
    );
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

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}
