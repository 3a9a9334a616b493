//! Fuzz target for the initramfs writer (`microvm::cpio`): any list of entries is written as a
//! newc archive that an independent reader (below, written from the format's description in
//! cpio(5), not from the writer) reads back entry for entry, and that Debian's `cpio -t` lists.
//! Runs for a bounded time under `cargo test`; under libFuzzer with `cargo bolero test` (README).
use isolators::microvm::cpio::{self, Entry};

/// One member as read back: (name, mode, rdev major, rdev minor, data).
#[derive(Debug, PartialEq, Eq)]
struct Member {
    name: String,
    mode: u32,
    rdev: (u32, u32),
    data: Vec<u8>,
}

/// Reads a whole newc archive: its members before `TRAILER!!!`, checking the magic, the
/// 4-byte alignment of names and data, and that nothing follows the trailer.
fn read_newc(archive: &[u8]) -> Result<Vec<Member>, String> {
    let mut members = Vec::new();
    let mut at = 0usize;
    loop {
        let header = archive
            .get(at..at + 110)
            .ok_or(format!("archive ends inside a header at {at}"))?;
        if &header[..6] != b"070701" {
            return Err(format!("bad magic at {at}"));
        }
        let field = |index: usize| {
            let hex = std::str::from_utf8(&header[6 + index * 8..14 + index * 8]).unwrap();
            u32::from_str_radix(hex, 16).map_err(|e| format!("field {index} at {at}: {e}"))
        };
        let (mode, file_size, rdev_major, rdev_minor, name_size) =
            (field(1)?, field(6)?, field(9)?, field(10)?, field(11)?);
        let name_start = at + 110;
        let name_bytes = archive
            .get(name_start..name_start + name_size as usize)
            .ok_or("archive ends inside a name")?;
        let (name, nul) = name_bytes.split_at(name_bytes.len().saturating_sub(1));
        if nul != [0] || name.contains(&0) {
            return Err(format!(
                "name at {name_start} is not one NUL-terminated string"
            ));
        }
        let name = String::from_utf8(name.to_vec()).map_err(|e| e.to_string())?;
        let data_start = (name_start + name_size as usize).next_multiple_of(4);
        let data = archive
            .get(data_start..data_start + file_size as usize)
            .ok_or("archive ends inside data")?
            .to_vec();
        at = (data_start + file_size as usize).next_multiple_of(4);
        if name == "TRAILER!!!" {
            return if at == archive.len() {
                Ok(members)
            } else {
                Err(format!("{} bytes after the trailer", archive.len() - at))
            };
        }
        members.push(Member {
            name,
            mode,
            rdev: (rdev_major, rdev_minor),
            data,
        });
    }
}

/// What an entry should read back as: its name, its kind's file type with its permissions,
/// its device numbers and its data.
fn expected(entry: &Entry) -> Member {
    let (name, mode, rdev, data) = match *entry {
        Entry::Directory { path, mode } => (path, 0o040000 | mode, (0, 0), &[][..]),
        Entry::File { path, mode, data } => (path, 0o100000 | mode, (0, 0), data),
        Entry::CharDevice {
            path,
            mode,
            major,
            minor,
        } => (path, 0o020000 | mode, (major, minor), &[][..]),
    };
    Member {
        name: name.to_string(),
        mode,
        rdev,
        data: data.to_vec(),
    }
}

type Spec = (u8, String, u32, Vec<u8>, u32, u32);

fn entries(specs: &[Spec]) -> Vec<Entry<'_>> {
    specs
        .iter()
        .map(|(kind, path, mode, data, major, minor)| match kind % 3 {
            0 => Entry::dir(path, *mode),
            1 => Entry::file(path, *mode, data),
            _ => Entry::CharDevice {
                path,
                mode: *mode,
                major: *major,
                minor: *minor,
            },
        })
        .collect()
}

#[test]
fn any_entries_read_back_as_written() {
    bolero::check!().with_type::<Vec<Spec>>().for_each(|specs| {
        let entries = entries(specs);
        match cpio::archive(&entries) {
            Ok(archive) => {
                let read = read_newc(&archive).unwrap_or_else(|e| panic!("{e}: {archive:?}"));
                let wanted: Vec<Member> = entries.iter().map(expected).collect();
                assert_eq!(read, wanted);
            }
            Err(error) => {
                let line = error.to_string();
                assert!(!line.contains('\n'), "{line:?}");
                // Refused only when the format could not carry an entry as given.
                assert!(
                    specs.iter().any(|(_, path, mode, ..)| path.contains('\0')
                        || path == "TRAILER!!!"
                        || mode & !0o7777 != 0),
                    "{line}"
                );
            }
        }
    });
}

/// Debian's cpio(1) lists an archive of awkward but valid entries as written, in order: the
/// independent reader above is checked against it once.
#[test]
fn debian_cpio_lists_what_the_writer_wrote() {
    let long_name = format!("deep/{}", "n".repeat(250));
    let specs: Vec<Spec> = vec![
        (0, "deep".into(), 0o1777, vec![], 0, 0),
        (1, "deep/a b ü".into(), 0o4755, b"x".to_vec(), 0, 0),
        (1, "deep/two".into(), 0o600, b"xy".to_vec(), 0, 0),
        (1, "deep/three".into(), 0o644, b"xyz".to_vec(), 0, 0),
        (1, "empty".into(), 0o644, vec![], 0, 0),
        (2, "null".into(), 0o666, vec![], 1, 3),
        (1, long_name, 0o400, vec![0; 4097], 0, 0),
    ];
    let entries = entries(&specs);
    let archive = cpio::archive(&entries).unwrap();
    assert_eq!(
        read_newc(&archive).unwrap(),
        entries.iter().map(expected).collect::<Vec<_>>()
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fuzz.cpio");
    std::fs::write(&path, &archive).unwrap();
    let list = std::process::Command::new("cpio")
        .args(["-t", "--quiet", "-F"])
        .arg(&path)
        .output()
        .expect("cpio(1) is needed for this test: scripts/setup-test-host.sh installs it");
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    let listed: Vec<String> = String::from_utf8(list.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let written: Vec<String> = specs.into_iter().map(|spec| spec.1).collect();
    assert_eq!(listed, written);
}
