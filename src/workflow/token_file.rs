//! Writing a service account's token: mode 0600, atomically, never over an existing file.
//!
//! Dfns returns the token once, at creation. The destination is checked before the account
//! is created (so a bad path costs nothing), then written through a temporary file in the same
//! directory that is renamed into place, so a reader never sees half a token.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::store::TokenStore;
use crate::api::AuthToken;

/// Why a token file cannot be used. Found before anything is created at Dfns.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    /// A token file is never overwritten.
    #[error("the token file {} already exists (or is a symbolic link); refusing to overwrite a token or write through a link", path.display())]
    Exists {
        /// The destination.
        path: PathBuf,
    },
    /// Its directory does not take a new private file.
    #[error("cannot write the token file in {}: {source}", dir.display())]
    Unwritable {
        /// The directory.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A checked destination for a token.
#[derive(Debug, Clone)]
pub struct TokenFile {
    path: PathBuf,
}

impl TokenFile {
    /// Check that `path` does not exist and that its directory accepts a private file.
    pub fn prepare(path: &Path) -> Result<Self, TokenFileError> {
        // lstat: a symlink at the destination, even a dangling one, is something that exists
        // (a write would follow it, or fail after the account exists and lose the token).
        if std::fs::symlink_metadata(path).is_ok() {
            return Err(TokenFileError::Exists {
                path: path.to_path_buf(),
            });
        }
        let dir = parent(path);
        // A trial write proves the directory is writable before anything is created at Dfns.
        tempfile::Builder::new()
            .prefix(".dfns-hsm-check")
            .tempfile_in(dir)
            .map_err(|source| TokenFileError::Unwritable {
                dir: dir.to_path_buf(),
                source,
            })?;
        Ok(Self {
            path: path.to_path_buf(),
        })
    }

    /// The destination.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Write `token` (0600, atomic, no clobber).
    pub fn write(&self, token: &str) -> std::io::Result<()> {
        // tempfile creates the file 0600 on Unix.
        let mut tmp = tempfile::Builder::new()
            .prefix(".dfns-hsm-token")
            .tempfile_in(parent(&self.path))?;
        tmp.write_all(token.as_bytes())?;
        tmp.as_file().sync_all()?;
        tmp.persist_noclobber(&self.path).map_err(|e| e.error)?;
        Ok(())
    }
}

impl TokenStore for TokenFile {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    fn store(&self, token: &AuthToken) -> std::io::Result<()> {
        self.write(token.expose_secret())
    }
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn writes_private_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sa.token");
        let out = TokenFile::prepare(&path).unwrap();
        out.write("tok").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "tok");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(TokenFile::prepare(&path).is_err());
        assert!(out.write("other").is_err(), "no clobber");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "tok");
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary files left behind");
    }

    #[test]
    fn an_unwritable_directory_is_caught_before_anything_happens() {
        assert!(TokenFile::prepare(Path::new("/nonexistent-dir/sa.token")).is_err());
    }
}
