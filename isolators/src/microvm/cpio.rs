//! A cpio "newc" archive writer: what the Linux kernel unpacks as an initramfs, built in
//! memory from a few entries ([`archive`]) or streamed member by member ([`Writer`]).
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

pub const S_IFDIR: u32 = 0o040000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFCHR: u32 = 0o020000;
pub const S_IFLNK: u32 = 0o120000;
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
        let (mode, len_bytes) = match self {
            Entry::Directory { mode, .. } | Entry::CharDevice { mode, .. } => (*mode, 0),
            Entry::File { mode, data, .. } => (*mode, data.len()),
        };
        check_member(path.as_bytes(), len_bytes as u64)?;
        if mode & !PERMISSION_BITS != 0 {
            return Err(CpioError::NotPermissions {
                path: path.to_string(),
                mode,
            });
        }
        Ok(())
    }
}

/// Writes `entries` followed by the `TRAILER!!!` record, all owned by root; refuses an entry
/// the format cannot carry as given.
pub fn archive(entries: &[Entry]) -> Result<Vec<u8>, CpioError> {
    let mut writer = Writer::new(Vec::new());
    for (index, entry) in entries.iter().enumerate() {
        entry.check()?;
        let inode = index as u32 + 1;
        let (mode, links, rdev, data): (u32, u32, (u32, u32), &[u8]) = match entry {
            Entry::Directory { mode, .. } => (S_IFDIR | mode, 2, (0, 0), &[]),
            Entry::File { mode, data, .. } => (S_IFREG | mode, 1, (0, 0), data),
            Entry::CharDevice {
                mode, major, minor, ..
            } => (S_IFCHR | mode, 1, (*major, *minor), &[]),
        };
        let header = Header {
            inode,
            mode,
            owner: (0, 0),
            links,
            size_bytes: data.len() as u64,
            rdev,
        };
        writer
            .member(entry.path().as_bytes(), &header, data)
            .expect("writing to a Vec cannot fail");
    }
    Ok(writer.finish().expect("writing to a Vec cannot fail"))
}

/// A member's header fields beside its name: the whole `st_mode` (file type and permissions),
/// owner, link count, data size and device numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub inode: u32,
    pub mode: u32,
    /// (uid, gid).
    pub owner: (u32, u32),
    pub links: u32,
    pub size_bytes: u64,
    /// (major, minor) of a device node.
    pub rdev: (u32, u32),
}

/// The bytes one member takes in an archive: header and name padded to 4, data padded to 4.
pub fn member_bytes(name_len: usize, size_bytes: u64) -> u64 {
    (HEADER_BYTES + name_len as u64 + 1).next_multiple_of(4) + size_bytes.next_multiple_of(4)
}

/// The bytes the `TRAILER!!!` record takes.
pub fn trailer_bytes() -> u64 {
    member_bytes(TRAILER.len(), 0)
}

/// Fixed part of a newc header: the magic and 13 fields of 8 hex digits.
const HEADER_BYTES: u64 = 6 + 13 * 8;

/// Streams a newc archive into any writer, member by member, so that an archive of a whole
/// root filesystem never sits in memory. The caller checks names and sizes
/// ([`check_member`]); [`Writer::member_from`] copies exactly the size the header states.
pub struct Writer<W: std::io::Write> {
    out: W,
    written_bytes: u64,
}

impl<W: std::io::Write> Writer<W> {
    pub fn new(out: W) -> Writer<W> {
        Writer {
            out,
            written_bytes: 0,
        }
    }

    /// One member whose data is in memory (`header.size_bytes` must be `data.len()`).
    pub fn member(&mut self, name: &[u8], header: &Header, data: &[u8]) -> std::io::Result<()> {
        debug_assert_eq!(header.size_bytes, data.len() as u64);
        self.header(name, header)?;
        self.write(data)?;
        self.pad()
    }

    /// One member whose data is read from `data`, which must give exactly `header.size_bytes`
    /// bytes (a file that changed size while being packed is an error, not a corrupt archive).
    pub fn member_from(
        &mut self,
        name: &[u8],
        header: &Header,
        data: &mut impl std::io::Read,
    ) -> std::io::Result<()> {
        self.header(name, header)?;
        let copied = std::io::copy(
            &mut std::io::Read::take(data, header.size_bytes),
            &mut self.out,
        )?;
        self.written_bytes += copied;
        if copied != header.size_bytes {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "{copied} bytes where {} were expected: it changed while being packed",
                    header.size_bytes
                ),
            ));
        }
        self.pad()
    }

    /// Writes the `TRAILER!!!` record and returns the writer (flush it if it buffers).
    pub fn finish(mut self) -> std::io::Result<W> {
        let trailer = Header {
            inode: 0,
            mode: 0,
            owner: (0, 0),
            links: 1,
            size_bytes: 0,
            rdev: (0, 0),
        };
        self.member(TRAILER.as_bytes(), &trailer, &[])?;
        Ok(self.out)
    }

    /// Bytes written so far.
    pub fn written_bytes(&self) -> u64 {
        self.written_bytes
    }

    fn header(&mut self, name: &[u8], header: &Header) -> std::io::Result<()> {
        let fields = [
            header.inode,
            header.mode,
            header.owner.0,
            header.owner.1,
            header.links,
            0, // mtime: fixed, so archives are reproducible
            header.size_bytes as u32,
            0, // dev major
            0, // dev minor
            header.rdev.0,
            header.rdev.1,
            name.len() as u32 + 1, // name size, with the NUL
            0,                     // check
        ];
        let mut text = Vec::with_capacity(HEADER_BYTES as usize + name.len() + 1);
        text.extend_from_slice(b"070701");
        for field in fields {
            text.extend_from_slice(format!("{field:08x}").as_bytes());
        }
        text.extend_from_slice(name);
        text.push(0);
        self.write(&text)?;
        self.pad()
    }

    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.out.write_all(bytes)?;
        self.written_bytes += bytes.len() as u64;
        Ok(())
    }

    fn pad(&mut self) -> std::io::Result<()> {
        let padding = self.written_bytes.next_multiple_of(4) - self.written_bytes;
        self.write(&[0; 3][..padding as usize])
    }
}

/// Refuses a member the newc format cannot carry as named and sized: a NUL in the name, the
/// trailer's name, or more than 4 GiB - 1 of data.
pub fn check_member(name: &[u8], size_bytes: u64) -> Result<(), CpioError> {
    let owned = || String::from_utf8_lossy(name).into_owned();
    if name.contains(&0) {
        return Err(CpioError::NulInPath { path: owned() });
    }
    if name == TRAILER.as_bytes() {
        return Err(CpioError::TrailerPath { path: owned() });
    }
    if u32::try_from(size_bytes).is_err() || u32::try_from(name.len() + 1).is_err() {
        return Err(CpioError::TooLarge {
            path: owned(),
            len_bytes: size_bytes.max(name.len() as u64),
        });
    }
    Ok(())
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
