//! Fuzz targets for the layer unpacker (`user_workload::layer`), which reads archives isobench
//! did not write: whatever the entries (names with `..`, `/`, whiteouts, symlinks and hard links
//! pointing anywhere, in two layers), nothing is ever written outside the tree and every
//! refusal is one line; any bytes at all are unpacked or refused without a panic.
//! Runs for a bounded time under `cargo test`; under libFuzzer with `cargo bolero test` (README).
use std::path::Path;

use isolators::user_workload::layer::{self, LayerCounts};

/// Name parts the generator picks from: the hostile ones and a few plain ones.
const PARTS: [&str; 10] = [
    "a",
    "b",
    "..",
    ".",
    "",
    ".wh.a",
    ".wh..wh..opq",
    "c",
    "..",
    "a",
];

/// One entry: (type, name part indexes, link target part indexes, data, absolute link).
type Spec = (u8, Vec<u8>, Vec<u8>, Vec<u8>, bool);

fn join(indexes: &[u8]) -> String {
    let parts: Vec<&str> = indexes
        .iter()
        .take(6)
        .map(|i| PARTS[*i as usize % PARTS.len()])
        .collect();
    parts.join("/")
}

/// A tar of `specs` with names written raw (the tar crate's builder would refuse `..`).
fn layer_of(specs: &[Spec], outside: &Path) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (kind, name, link, data, absolute) in specs.iter().take(12) {
        let mut header = tar::Header::new_gnu();
        let (kind, data): (tar::EntryType, &[u8]) = match kind % 5 {
            0 => (tar::EntryType::Directory, b""),
            1 => (tar::EntryType::Regular, data),
            2 => (tar::EntryType::Symlink, b""),
            3 => (tar::EntryType::Link, b""),
            _ => (tar::EntryType::Char, b""),
        };
        let target = if *absolute {
            format!("{}/{}", outside.display(), join(link))
        } else {
            join(link)
        };
        let (name, target) = (name_field(&join(name)), name_field(&target));
        header.as_old_mut().name[..name.len()].copy_from_slice(&name);
        header.as_old_mut().linkname[..target.len()].copy_from_slice(&target);
        header.set_entry_type(kind);
        header.set_mode(0o755);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_size(data.len() as u64);
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }
    builder.into_inner().unwrap()
}

fn name_field(text: &str) -> Vec<u8> {
    text.as_bytes().iter().copied().take(99).collect()
}

/// Every path below `dir` (following nothing).
fn everything_below(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        found.push(entry.path().display().to_string());
        if entry.file_type().unwrap().is_dir() {
            found.extend(everything_below(&entry.path()));
        }
    }
    found
}

/// Strictly below `dir` (not `dir` itself).
fn is_below(path: &str, dir: &Path) -> bool {
    Path::new(path)
        .strip_prefix(dir)
        .is_ok_and(|rest| !rest.as_os_str().is_empty())
}

#[test]
fn any_layers_stay_inside_the_tree() {
    bolero::check!()
        .with_type::<(Vec<Spec>, Vec<Spec>)>()
        .for_each(|(lower, upper)| {
            let scratch = tempfile::tempdir().unwrap();
            let (tree, outside) = (
                scratch.path().join("a/b/tree"),
                scratch.path().join("a/b/outside"),
            );
            std::fs::create_dir_all(&tree).unwrap();
            std::fs::create_dir_all(&outside).unwrap();
            let mut counts = LayerCounts::default();
            for spec in [lower, upper] {
                let bytes = layer_of(spec, &outside);
                if let Err(error) = layer::apply(bytes.as_slice(), &tree, &mut counts) {
                    let line = error.to_string();
                    assert!(!line.contains('\n'), "{line:?}");
                    break;
                }
            }
            let beside: Vec<String> = everything_below(scratch.path())
                .into_iter()
                .filter(|path| !is_below(path, &tree))
                .collect();
            let expected = ["a", "a/b", "a/b/tree", "a/b/outside"]
                .map(|p| scratch.path().join(p).display().to_string());
            let mut beside_sorted = beside.clone();
            beside_sorted.sort();
            let mut expected_sorted = expected.to_vec();
            expected_sorted.sort();
            assert_eq!(
                beside_sorted, expected_sorted,
                "written outside the tree: {lower:?} {upper:?}"
            );
        });
}

#[test]
fn any_bytes_are_unpacked_or_refused_in_one_line() {
    bolero::check!().with_type::<Vec<u8>>().for_each(|bytes| {
        let scratch = tempfile::tempdir().unwrap();
        let tree = scratch.path().join("tree");
        std::fs::create_dir(&tree).unwrap();
        let mut counts = LayerCounts::default();
        if let Err(error) = layer::apply(bytes.as_slice(), &tree, &mut counts) {
            let line = error.to_string();
            assert!(!line.contains('\n'), "{line:?}");
        }
        let beside: Vec<String> = everything_below(scratch.path())
            .into_iter()
            .filter(|path| !is_below(path, &tree))
            .collect();
        assert_eq!(beside, vec![tree.display().to_string()]);
    });
}
