//! A cpio "newc" archive writer: what the Linux kernel unpacks as an initramfs.
//!
//! Hand-written on purpose: the format is 110 ASCII bytes of header per entry, and the
//! crates that write it either pull in far more (archive toolkits) or are unmaintained.

/// One archive member.
pub enum Entry<'a> {
    Directory {
        path: &'a str,
        mode: u32,
    },
    File {
        path: &'a str,
        mode: u32,
        data: &'a [u8],
    },
    /// A character device node such as `dev/console` (5, 1).
    CharDevice {
        path: &'a str,
        mode: u32,
        major: u32,
        minor: u32,
    },
}

impl<'a> Entry<'a> {
    /// `dev/console`, char device (5, 1): the kernel opens it as init's stdin, stdout and stderr.
    pub const DEV_CONSOLE: Entry<'static> = Entry::CharDevice {
        path: "dev/console",
        mode: 0o600,
        major: 5,
        minor: 1,
    };

    pub fn dir(path: &'a str, mode: u32) -> Entry<'a> {
        Entry::Directory { path, mode }
    }

    pub fn file(path: &'a str, mode: u32, data: &'a [u8]) -> Entry<'a> {
        Entry::File { path, mode, data }
    }
}

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFCHR: u32 = 0o020000;
/// The permission bits (with setuid, setgid, sticky): all an entry's `mode` may hold.
const PERMISSION_BITS: u32 = 0o7777;
/// The name of the record that ends an archive.
const TRAILER: &str = "TRAILER!!!";

/// An entry the newc format cannot carry as given (each found by `tests/fuzz_cpio.rs`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CpioError {
    #[error("initramfs entry {path:?}: a NUL byte in its path would cut the name short in the archive — remove it")]
    NulInPath { path: String },
    #[error("initramfs entry {path:?}: that name ends a cpio archive; the kernel would stop unpacking there — rename it")]
    TrailerPath { path: String },
    #[error("initramfs entry {path:?}: mode {mode:#o} has bits beyond the permissions ({PERMISSION_BITS:#o}) that would change its file type — pass the permissions only")]
    NotPermissions { path: String, mode: u32 },
    #[error("initramfs entry {path:?}: {len_bytes} bytes, more than a newc header can state (4 GiB - 1) — make it smaller")]
    TooLarge { path: String, len_bytes: u64 },
}

impl Entry<'_> {
    fn path(&self) -> &str {
        match self {
            Entry::Directory { path, .. }
            | Entry::File { path, .. }
            | Entry::CharDevice { path, .. } => path,
        }
    }

    /// Refuses what the format would silently change: the name, the file type, the size.
    fn check(&self) -> Result<(), CpioError> {
        let path = self.path();
        let owned = || path.to_string();
        if path.contains('\0') {
            return Err(CpioError::NulInPath { path: owned() });
        }
        if path == TRAILER {
            return Err(CpioError::TrailerPath { path: owned() });
        }
        let (mode, len_bytes) = match self {
            Entry::Directory { mode, .. } | Entry::CharDevice { mode, .. } => (*mode, 0),
            Entry::File { mode, data, .. } => (*mode, data.len()),
        };
        if mode & !PERMISSION_BITS != 0 {
            return Err(CpioError::NotPermissions {
                path: owned(),
                mode,
            });
        }
        if u32::try_from(len_bytes).is_err() || u32::try_from(path.len() + 1).is_err() {
            return Err(CpioError::TooLarge {
                path: owned(),
                len_bytes: len_bytes.max(path.len()) as u64,
            });
        }
        Ok(())
    }
}

/// Writes `entries` followed by the `TRAILER!!!` record, all owned by root; refuses an entry
/// the format cannot carry as given.
pub fn archive(entries: &[Entry]) -> Result<Vec<u8>, CpioError> {
    let mut out = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        entry.check()?;
        let inode = index as u32 + 1;
        match entry {
            Entry::Directory { path, mode } => {
                member(&mut out, inode, path, S_IFDIR | mode, 2, (0, 0), &[])
            }
            Entry::File { path, mode, data } => {
                member(&mut out, inode, path, S_IFREG | mode, 1, (0, 0), data)
            }
            Entry::CharDevice {
                path,
                mode,
                major,
                minor,
            } => member(
                &mut out,
                inode,
                path,
                S_IFCHR | mode,
                1,
                (*major, *minor),
                &[],
            ),
        }
    }
    member(&mut out, 0, TRAILER, 0, 1, (0, 0), &[]);
    Ok(out)
}

/// One header, name and data; the sizes fit in u32 ([`Entry::check`]).
fn member(
    out: &mut Vec<u8>,
    inode: u32,
    path: &str,
    mode: u32,
    links: u32,
    rdev: (u32, u32),
    data: &[u8],
) {
    let fields = [
        inode,
        mode,
        0, // uid
        0, // gid
        links,
        0, // mtime: fixed, so archives are reproducible
        data.len() as u32,
        0, // dev major
        0, // dev minor
        rdev.0,
        rdev.1,
        path.len() as u32 + 1, // name size, with the NUL
        0,                     // check
    ];
    out.extend_from_slice(b"070701");
    for field in fields {
        out.extend_from_slice(format!("{field:08x}").as_bytes());
    }
    out.extend_from_slice(path.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

fn pad4(out: &mut Vec<u8>) {
    out.resize(out.len().next_multiple_of(4), 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        archive(&[
            Entry::dir("dev", 0o755),
            Entry::DEV_CONSOLE,
            Entry::file("init", 0o755, b"#!hello\n"),
        ])
        .unwrap()
    }

    #[test]
    fn refuses_what_the_format_would_change() {
        let refused = |entry: Entry| archive(&[entry]).unwrap_err().to_string();
        assert!(refused(Entry::dir("a\0b", 0o755)).contains("NUL"));
        assert!(refused(Entry::file("TRAILER!!!", 0o644, b"")).contains("ends a cpio archive"));
        assert!(refused(Entry::file("x", 0o100644, b"")).contains("permissions"));
    }

    #[test]
    fn header_layout() {
        let bytes = sample();
        assert_eq!(&bytes[..6], b"070701");
        assert_eq!(bytes.len() % 4, 0);
        assert!(bytes.windows(10).any(|w| w == b"TRAILER!!!"));
    }

    #[test]
    fn cpio_lists_and_extracts_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("initramfs.cpio");
        std::fs::write(&path, sample()).unwrap();
        let list = std::process::Command::new("cpio")
            .args(["-t", "-v", "-F"])
            .arg(&path)
            .output();
        let Ok(list) = list else {
            panic!("cpio(1) is needed for this test: apt-get install cpio");
        };
        let text = String::from_utf8_lossy(&list.stdout);
        assert!(
            list.status.success(),
            "{}",
            String::from_utf8_lossy(&list.stderr)
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines[0].starts_with("drwxr-xr-x") && lines[0].ends_with(" dev"),
            "{text}"
        );
        assert!(
            lines[1].starts_with("crw-------")
                && lines[1].contains("5,")
                && lines[1].ends_with("dev/console"),
            "{text}"
        );
        assert!(
            lines[2].starts_with("-rwxr-xr-x") && lines[2].ends_with(" init"),
            "{text}"
        );
        let extract = std::process::Command::new("cpio")
            .args(["-i", "--no-absolute-filenames", "-F"])
            .arg(&path)
            .arg("init")
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(extract.status.success());
        assert_eq!(
            std::fs::read(dir.path().join("init")).unwrap(),
            b"#!hello\n"
        );
    }
}
