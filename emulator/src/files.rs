//! Atomic file writes in the state dir: write a temp file beside the target, (sync,) rename.

use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::path::Path;

/// Owner read/write only: tokens, keys, the state file.
pub const PRIVATE: u32 = 0o600;
/// Readable by everyone: the ready file (it holds only the base URL).
pub const PUBLIC: u32 = 0o644;

/// Replace `path` with `contents` atomically, created with permission `mode` (Unix), and
/// flushed to disk before the rename.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    replace_with(path, contents, mode, true)
}

/// Replace `path` with `contents` atomically (temp file + rename), without `fsync`.
///
/// Readers and a restarted emulator see the old or the new file, never a torn one, as long as
/// the machine keeps running; only a power cut may lose the last writes. That is the right
/// trade for `state.json`, rewritten on every mutation under the state lock: an `fsync` there
/// costs milliseconds per signed request and serializes them all.
pub fn replace(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    replace_with(path, contents, mode, false)
}

fn replace_with(path: &Path, contents: &[u8], mode: u32, sync: bool) -> io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let suffix: u64 = rand::random();
    let tmp = dir.join(format!(".{name}.{suffix:016x}.tmp"));
    let result = write_new(&tmp, contents, mode, sync).and_then(|()| fs::rename(&tmp, path));
    if result.is_err() {
        // Best effort: do not leave the temp file behind; the original error is what matters.
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn write_new(path: &Path, contents: &[u8], mode: u32, sync: bool) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    if sync {
        file.sync_all()?;
    }
    Ok(())
}

/// Create `dir` (and parents) if missing; a new directory is private to the owner (Unix).
pub fn ensure_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Remove `path` if it exists.
pub fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replace_and_set_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("x");
        write_atomic(&p, b"one", PRIVATE).expect("write");
        write_atomic(&p, b"two", PRIVATE).expect("rewrite");
        assert_eq!(fs::read(&p).expect("read"), b"two");
        replace(&p, b"three", PRIVATE).expect("replace");
        assert_eq!(fs::read(&p).expect("read"), b"three");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert_eq!(fs::read_dir(dir.path()).expect("ls").count(), 1);
    }
}
