//! `scripts/setup-softhsm.sh` refuses a directory others could tamper with: one that others can
//! write or someone else owns, anything reached through a symlink, a softhsm2.conf it did not
//! write. It is run as users run it, a real SoftHSM2 token initialized on the happy path.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;

fn setup(dir: &Path) -> (bool, String, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/setup-softhsm.sh");
    let out = Command::new("bash")
        .arg(script)
        .arg(dir)
        .output()
        .expect("bash");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn refused(dir: &Path, says: &str) {
    let (ok, out, err) = setup(dir);
    assert!(!ok, "accepted {}: {out}", dir.display());
    assert!(out.is_empty(), "export lines printed on failure: {out}");
    assert!(err.contains(says), "{says:?} not in: {err}");
}

#[test]
fn a_private_directory_is_set_up_once_and_reused() {
    let base = tempfile::tempdir().expect("tmp");
    let dir = base.path().join("token");
    let (ok, out, err) = setup(&dir);
    assert!(ok, "{err}");
    assert!(out.contains("export DFNS_HSM_PIN_SOURCE=file:"), "{out}");
    let mode = std::fs::metadata(&dir).expect("dir").permissions().mode() & 0o777;
    assert_eq!(mode & 0o077, 0, "created private: {mode:o}");
    let (ok, again, err) = setup(&dir);
    assert!(ok, "{err}");
    assert_eq!(out, again, "the same token is reused");
    assert!(err.contains("keeping existing"), "{err}");
}

#[test]
fn a_directory_others_can_write_is_refused() {
    let base = tempfile::tempdir().expect("tmp");
    let dir = base.path().join("shared");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    refused(&dir, "can be written by group or others");
}

#[test]
fn a_directory_someone_else_owns_is_refused() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("skipped a_directory_someone_else_owns_is_refused: needs root to chown");
        return;
    }
    let base = tempfile::tempdir().expect("tmp");
    let dir = base.path().join("theirs");
    std::fs::create_dir(&dir).expect("mkdir");
    std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).expect("chown");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    refused(&dir, "belongs to uid 65534");
}

#[test]
fn nothing_is_followed_through_a_symlink() {
    let base = tempfile::tempdir().expect("tmp");
    let real = base.path().join("real");
    std::fs::create_dir(&real).expect("mkdir");
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let link = base.path().join("link");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    refused(&link, "is a symbolic link");

    // A planted PIN file link inside an otherwise good directory.
    std::os::unix::fs::symlink("/etc/hostname", real.join("user.pin")).expect("symlink");
    refused(&real, "user.pin is a symbolic link");
}

#[test]
fn a_softhsm2_conf_it_did_not_write_is_not_kept() {
    let base = tempfile::tempdir().expect("tmp");
    let dir = base.path().join("planted");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    std::fs::write(
        dir.join("softhsm2.conf"),
        "directories.tokendir = /somewhere/else\n",
    )
    .expect("conf");
    refused(&dir, "was not written by this script");
}
