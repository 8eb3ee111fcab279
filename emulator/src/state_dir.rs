//! The state dir is trusted input (it holds the organization's token-signing key): refuse one
//! that someone else owns or others can write, and hold an exclusive lock on it so two
//! emulators never share one.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::os::unix::io::AsRawFd as _;
use std::path::Path;

/// Name of the lock file inside the state dir.
const LOCK_FILE: &str = ".lock";

/// Held for the process's lifetime; the lock goes with it.
#[derive(Debug)]
pub struct StateDirLock {
    _file: File,
}

/// Check `dir` (already created) and lock it.
pub fn guard(dir: &Path) -> Result<StateDirLock, String> {
    let meta = std::fs::symlink_metadata(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    if meta.file_type().is_symlink() {
        return Err(format!(
            "the state dir {} is a symbolic link; give the directory itself",
            dir.display()
        ));
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(format!(
            "the state dir {} belongs to uid {}, not to this process (uid {me}); a state dir \
             holds the organization's signing key: use one of your own",
            dir.display(),
            meta.uid()
        ));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(format!(
            "the state dir {} can be written by group or others (mode {mode:04o}): anyone \
             could plant a state.json with a known key; chmod go-w it or use another dir",
            dir.display()
        ));
    }
    let state = dir.join("state.json");
    if let Ok(m) = std::fs::symlink_metadata(&state) {
        if m.file_type().is_symlink() || m.uid() != me || m.permissions().mode() & 0o022 != 0 {
            return Err(format!(
                "{} is a link, someone else's, or writable by others; refusing to load it",
                state.display()
            ));
        }
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(dir.join(LOCK_FILE))
        .map_err(|e| format!("cannot open the lock file in {}: {e}", dir.display()))?;
    // SAFETY: flock on a descriptor we own; it does not outlive `file`.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(format!(
            "another dfns-emulator is using the state dir {}; stop it or use another dir",
            dir.display()
        ));
    }
    Ok(StateDirLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dir_others_can_write_is_refused_and_a_second_lock_fails() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(guard(dir.path())
            .unwrap_err()
            .contains("written by group or others"));
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let held = guard(dir.path()).unwrap();
        assert!(guard(dir.path())
            .unwrap_err()
            .contains("another dfns-emulator"));
        drop(held);
        assert!(guard(dir.path()).is_ok());
    }

    #[test]
    fn a_planted_state_file_others_can_write_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let state = dir.path().join("state.json");
        std::fs::write(&state, "{}").unwrap();
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(guard(dir.path())
            .unwrap_err()
            .contains("refusing to load it"));
    }
}
