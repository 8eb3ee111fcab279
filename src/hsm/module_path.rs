//! Which files may be loaded as a PKCS#11 module.
//!
//! Loading a library runs its code (constructors first) in a process that is about to read
//! the PIN, so the file must be one only its owner (and root) can change: an absolute path,
//! resolved through every symlink first, to a regular file that neither it nor any directory
//! above it is writable by group or others. A directory with the sticky bit (such as `/tmp`)
//! is accepted when root owns it, since others cannot then replace what they do not own.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use super::error::{Error, Result};

const GROUP_OR_OTHER_WRITE: u32 = 0o022;
const STICKY: u32 = 0o1000;

/// The canonical path of `path` when it may be loaded as a module, else why not.
pub(super) fn check(path: &Path) -> Result<PathBuf> {
    let refuse = |reason: String| Error::ModuleLoad {
        path: path.to_path_buf(),
        reason,
    };
    // Checked before anything else: a relative name would make dlopen search library paths.
    if !path.is_absolute() {
        return Err(refuse("the path must be absolute".into()));
    }
    let canonical = std::fs::canonicalize(path).map_err(|e| refuse(e.to_string()))?;
    let meta = std::fs::metadata(&canonical).map_err(|e| refuse(e.to_string()))?;
    if !meta.is_file() {
        return Err(refuse(format!(
            "{} is not a regular file",
            canonical.display()
        )));
    }
    if meta.mode() & GROUP_OR_OTHER_WRITE != 0 {
        return Err(refuse(format!(
            "{} is writable by group or others (mode {:o}); a module must be writable only by its owner",
            canonical.display(),
            meta.mode() & 0o7777
        )));
    }
    for dir in canonical.ancestors().skip(1) {
        let meta = std::fs::metadata(dir).map_err(|e| refuse(format!("{}: {e}", dir.display())))?;
        let mode = meta.mode();
        let sticky_root = mode & STICKY != 0 && meta.uid() == 0;
        if mode & GROUP_OR_OTHER_WRITE != 0 && !sticky_root {
            return Err(refuse(format!(
                "the directory {} is writable by group or others (mode {:o}), so the module in it can be replaced",
                dir.display(),
                mode & 0o7777
            )));
        }
    }
    Ok(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn chmod(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn only_files_only_their_owner_can_write_are_loaded() {
        let dir = tempfile::tempdir().unwrap();
        chmod(dir.path(), 0o755);
        let lib = dir.path().join("lib.so");
        std::fs::write(&lib, b"not really").unwrap();
        chmod(&lib, 0o644);
        assert_eq!(check(&lib).unwrap(), std::fs::canonicalize(&lib).unwrap());

        let e = check(Path::new("lib.so")).unwrap_err().to_string();
        assert!(e.contains("absolute"), "{e}");

        chmod(&lib, 0o664);
        let e = check(&lib).unwrap_err().to_string();
        assert!(e.contains("writable by group or others"), "{e}");
        chmod(&lib, 0o644);

        let sub = dir.path().join("open");
        std::fs::create_dir(&sub).unwrap();
        let inner = sub.join("lib.so");
        std::fs::copy(&lib, &inner).unwrap();
        chmod(&sub, 0o777);
        let e = check(&inner).unwrap_err().to_string();
        assert!(e.contains("directory") && e.contains("open"), "{e}");

        // A symlink in a safe place is judged by where it leads.
        let link = dir.path().join("link.so");
        std::os::unix::fs::symlink(&inner, &link).unwrap();
        let e = check(&link).unwrap_err().to_string();
        assert!(e.contains("open"), "{e}");
        chmod(&sub, 0o755);
        assert_eq!(
            check(&link).unwrap(),
            std::fs::canonicalize(&inner).unwrap()
        );

        let e = check(dir.path()).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
        let e = check(&dir.path().join("missing.so"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("No such file"), "{e}");
    }
}
