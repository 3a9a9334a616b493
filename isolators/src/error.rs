//! The error type every isolator returns; each variant's message is what the user reads.
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The isolator cannot run here; the text says what to do about it.
    #[error("{0}")]
    Unavailable(String),
    /// A system call or file operation failed.
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    /// The probe did not signal ready, or the instance did not go away, in time.
    #[error("timed out after {:.1} s waiting for {what}", timeout.as_secs_f64())]
    Timeout { what: String, timeout: Duration },
    /// The instance ended before the probe signalled ready.
    #[error("the instance ended before the probe was ready: {0}")]
    DiedBeforeReady(String),
    /// Input the isolator was given is wrong (an image, a path, an option).
    #[error("{0}")]
    BadInput(String),
    /// An engine or device behaved in a way we cannot use.
    #[error("{0}")]
    Engine(String),
    /// A kernel file that cannot be used as it is (not a kernel, corrupt, no PVH note, …).
    #[error(transparent)]
    Kernel(#[from] crate::kernel::KernelError),
}

impl Error {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }
    pub fn sys(what: impl Into<String>, errno: nix::errno::Errno) -> Self {
        Error::Io {
            what: what.into(),
            source: std::io::Error::from(errno),
        }
    }
    pub fn timeout(what: impl Into<String>, timeout: Duration) -> Self {
        Error::Timeout {
            what: what.into(),
            timeout,
        }
    }
}

impl From<isobench_protocol::WorkloadError> for Error {
    fn from(error: isobench_protocol::WorkloadError) -> Self {
        Error::BadInput(error.to_string())
    }
}
