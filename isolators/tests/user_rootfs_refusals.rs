//! `--rootfs` archives refused in one line with nothing left in the cache: entries escaping the
//! root (`..`, absolute names, writes through a symlink, hard links out), corrupt and truncated
//! archives, several images; and an unpack killed midway, whose half tree is never used and
//! whose leftover the next open or `isobench clean` removes.
mod user_rootfs_support;

use std::path::Path;

use isolators::orphans::{self, Owner};
use isolators::user_workload::UserRootfs;
use user_rootfs_support::*;

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
fn isobench_clean_reaps_the_unpack_dir_of_a_gone_process_only() {
    let cache_dir = tempfile::tempdir().unwrap();
    let entry = cache_dir
        .path()
        .join("rootfs")
        .join(sha256_hex(b"some archive"));
    let mut sleeper = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let gone = Owner::of_pid(sleeper.id() as i32).unwrap();
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
    let partial = |owner: &Owner| entry.join(format!(".partial-{}-unpack", owner.tag()));
    let (dead, live) = (partial(&gone), partial(&Owner::current()));
    for dir in [&dead, &live] {
        std::fs::create_dir_all(dir.join("tree/etc")).unwrap();
        std::fs::write(dir.join("tree/etc/half"), b"x").unwrap();
    }
    let empty_tmp = tempfile::tempdir().unwrap();
    let reaped = orphans::reap_in(&orphans::Places {
        tmp_dir: empty_tmp.path().to_path_buf(),
        cache_dir: cache_dir.path().to_path_buf(),
        cgroup_roots: vec![],
    });
    assert!(!dead.exists() && reaped.other.contains(&dead), "{reaped:?}");
    assert!(live.join("tree/etc/half").is_file(), "a live unpack stays");
}
