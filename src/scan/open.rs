//! Opening inputs as conventions.md requires: read-only, `O_NOFOLLOW | O_NONBLOCK`, then
//! `fstat` on the open descriptor, so a FIFO, socket or device swapped in after the walk is
//! never read, and a FIFO never blocks the open.

use std::fs::{File, FileType, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Why an input could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Not a regular file (directory, FIFO, socket, device, symbolic link).
    #[error("not a regular file ({kind})")]
    NotRegular {
        /// What it is instead.
        kind: &'static str,
    },
    /// The operating system refused (permission, vanished, I/O error).
    #[error("{source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl OpenError {
    /// Whether this is a "skip" (not a regular file) rather than a failure.
    pub fn is_skip(&self) -> bool {
        matches!(self, OpenError::NotRegular { .. })
    }
}

/// What a file-system entry is, in words used in records.
pub fn file_kind(meta: &Metadata) -> &'static str {
    type_kind(meta.file_type())
}

/// [`file_kind`] from a file type alone (as a directory listing gives it, without a `stat`).
pub(crate) fn type_kind(t: FileType) -> &'static str {
    if t.is_file() {
        "regular file"
    } else if t.is_dir() {
        "directory"
    } else if t.is_symlink() {
        "symbolic link"
    } else if t.is_fifo() {
        "fifo"
    } else if t.is_socket() {
        "socket"
    } else if t.is_block_device() {
        "block device"
    } else if t.is_char_device() {
        "character device"
    } else {
        "special file"
    }
}

/// The bytes of a regular file, or of its head when the head showed it is not worth reading.
#[derive(Debug)]
pub struct ReadFile {
    /// The bytes read.
    pub bytes: Vec<u8>,
    /// The file's size per `fstat`.
    pub size: u64,
    /// Whether `bytes` is the whole file.
    pub complete: bool,
}

/// Open `path` safely and read it. `keep_reading(head)` sees the first bytes (up to 64 KiB)
/// and decides whether the rest is needed (a non-image need not be read in full).
pub fn read_input(
    path: &Path,
    keep_reading: impl FnOnce(&[u8]) -> bool,
) -> Result<ReadFile, OpenError> {
    let io_err = |source| OpenError::Io {
        path: path.to_owned(),
        source,
    };
    let file = match File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => f,
        // O_NOFOLLOW on a symbolic link fails with ELOOP.
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(OpenError::NotRegular {
                kind: "symbolic link",
            });
        }
        Err(e) => return Err(io_err(e)),
    };
    let meta = file.metadata().map_err(io_err)?;
    if !meta.file_type().is_file() {
        return Err(OpenError::NotRegular {
            kind: file_kind(&meta),
        });
    }
    let size = meta.len();
    let mut bytes = Vec::with_capacity(size.min(64 << 10) as usize);
    let mut reader = file;
    (&mut reader)
        .take(64 << 10)
        .read_to_end(&mut bytes)
        .map_err(io_err)?;
    if bytes.len() < (64 << 10) || !keep_reading(&bytes) {
        let complete = bytes.len() < (64 << 10);
        return Ok(ReadFile {
            bytes,
            size,
            complete,
        });
    }
    bytes.reserve(size.saturating_sub(bytes.len() as u64).min(1 << 30) as usize);
    reader.read_to_end(&mut bytes).map_err(io_err)?;
    Ok(ReadFile {
        bytes,
        size,
        complete: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = read_input(&fifo, |_| true).unwrap_err();
        assert!(
            matches!(err, OpenError::NotRegular { kind: "fifo" }),
            "{err}"
        );
    }

    #[test]
    fn symlink_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t");
        std::fs::write(&target, b"x").unwrap();
        let link = dir.path().join("l");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = read_input(&link, |_| true).unwrap_err();
        assert!(err.is_skip());
        assert_eq!(read_input(&target, |_| true).unwrap().bytes, b"x");
    }

    #[test]
    fn head_decides_whether_to_read_on() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("big");
        std::fs::write(&f, vec![7u8; 200 << 10]).unwrap();
        let r = read_input(&f, |_| false).unwrap();
        assert_eq!(
            (r.bytes.len(), r.size, r.complete),
            (64 << 10, 200 << 10, false)
        );
        let r = read_input(&f, |_| true).unwrap();
        assert_eq!((r.bytes.len(), r.complete), (200 << 10, true));
    }
}
