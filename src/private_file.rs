//! Files that hold secrets (PINs, Dfns tokens, software keys) and the audit trail.
//!
//! Opened without following a symbolic link (`O_NOFOLLOW`: a link planted at the path cannot
//! redirect a read or a write), and checked on the opened descriptor, not by path, so the file
//! checked is the file read. A secret file must be a regular file that only its owner can
//! read or write.

use std::fs::{File, Metadata, OpenOptions};
use std::io::Read as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

use zeroize::Zeroizing;

/// Why a private file was not used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refusal {
    /// It could not be opened or read.
    #[error("cannot read it: {0}")]
    Io(std::io::Error),
    /// The path is a symbolic link.
    #[error("it is a symbolic link; a file holding a secret is never used through one")]
    Symlink,
    /// Not a regular file (a directory, a FIFO, a device).
    #[error("it is not a regular file")]
    NotRegular,
    /// Group or others have access that they must not have.
    #[error("it is accessible by group or others (mode {mode:03o}); run `chmod 600 {path}`")]
    Exposed {
        /// The file's permission bits.
        mode: u32,
        /// The path, for the advice.
        path: String,
    },
    /// Larger than any such file should be.
    #[error("it is larger than {0} bytes; is it the right file?")]
    TooLarge(u64),
}

#[cfg(test)]
impl Refusal {
    /// The file's mode when it was refused for its permissions.
    pub(crate) fn exposed_mode(&self) -> Option<u32> {
        match self {
            Refusal::Exposed { mode, .. } => Some(*mode),
            _ => None,
        }
    }
}

fn no_follow(options: &mut OpenOptions) -> &mut OpenOptions {
    options.custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
}

fn opened(path: &Path, result: std::io::Result<File>) -> Result<File, Refusal> {
    result.map_err(|e| {
        // O_NOFOLLOW on a symlink fails with ELOOP.
        let is_link = e.raw_os_error() == Some(libc::ELOOP)
            || std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
        if is_link {
            Refusal::Symlink
        } else {
            Refusal::Io(e)
        }
    })
}

fn check(path: &Path, meta: &Metadata, forbidden: u32) -> Result<(), Refusal> {
    if !meta.file_type().is_file() {
        return Err(Refusal::NotRegular);
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & forbidden != 0 {
        return Err(Refusal::Exposed {
            mode,
            path: path.display().to_string(),
        });
    }
    Ok(())
}

/// Open a secret file for reading, checked as the module says; returns it with its metadata.
pub(crate) fn open_secret(path: &Path) -> Result<(File, Metadata), Refusal> {
    let file = opened(path, no_follow(OpenOptions::new().read(true)).open(path))?;
    let meta = file.metadata().map_err(Refusal::Io)?;
    check(path, &meta, 0o077)?;
    Ok((file, meta))
}

/// Read a whole secret file of at most `max` bytes, into memory that is wiped when dropped.
pub(crate) fn read_secret(path: &Path, max: u64) -> Result<Zeroizing<String>, Refusal> {
    let (file, meta) = open_secret(path)?;
    if meta.len() > max {
        return Err(Refusal::TooLarge(max));
    }
    let mut text = Zeroizing::new(String::new());
    file.take(max)
        .read_to_string(&mut text)
        .map_err(Refusal::Io)?;
    Ok(text)
}

/// Open a private log for appending, created 0600 if absent; refused if it is a link, not a
/// regular file, or writable by group or others.
pub(crate) fn open_private_append(path: &Path) -> Result<File, Refusal> {
    let file = opened(
        path,
        no_follow(OpenOptions::new().create(true).append(true).mode(0o600)).open(path),
    )?;
    let meta = file.metadata().map_err(Refusal::Io)?;
    check(path, &meta, 0o022)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str, mode: u32) {
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn secrets_are_read_only_when_private_and_never_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good");
        write(&good, "s3cret", 0o600);
        assert_eq!(read_secret(&good, 64).unwrap().as_str(), "s3cret");

        let open = dir.path().join("open");
        write(&open, "s3cret", 0o644);
        assert_eq!(
            read_secret(&open, 64).unwrap_err().exposed_mode(),
            Some(0o644)
        );

        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&good, &link).unwrap();
        assert!(matches!(read_secret(&link, 64), Err(Refusal::Symlink)));

        assert!(matches!(
            read_secret(dir.path(), 64),
            Err(Refusal::NotRegular)
        ));
        assert!(matches!(read_secret(&good, 3), Err(Refusal::TooLarge(3))));
    }

    #[test]
    fn the_log_is_created_private_and_refused_when_others_can_write() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.jsonl");
        open_private_append(&log).unwrap();
        let mode = std::fs::metadata(&log).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);

        let shared = dir.path().join("shared.jsonl");
        write(&shared, "", 0o666);
        assert!(open_private_append(&shared)
            .unwrap_err()
            .exposed_mode()
            .is_some());

        let link = dir.path().join("link.jsonl");
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), &link).unwrap();
        assert!(matches!(open_private_append(&link), Err(Refusal::Symlink)));
        assert!(
            !dir.path().join("elsewhere").exists(),
            "nothing created through the link"
        );
    }
}
