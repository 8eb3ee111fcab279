//! SoftHSM2: a token in a temp dir, made with `softhsm2-util`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::implementation::Provisioned;

/// Where Debian, Ubuntu and a source install put the SoftHSM2 module.
pub const MODULE_CANDIDATES: &[&str] = &[
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
];

/// The installed SoftHSM2 module.
///
/// # Panics
/// When none of [`MODULE_CANDIDATES`] exists.
pub fn module_path() -> PathBuf {
    MODULE_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "SoftHSM2 is not installed (none of {MODULE_CANDIDATES:?}): run scripts/test.sh, \
                 which installs softhsm2 and opensc"
            )
        })
}

/// A `softhsm2.conf` pointing at `DIR/tokens`, and a token initialized in it.
pub(crate) fn provision(dir: &Path, label: &str, so_pin: &str, pin: &str) -> Provisioned {
    let tokens = dir.join("tokens");
    std::fs::create_dir(&tokens).expect("create the SoftHSM2 token dir");
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .expect("write softhsm2.conf");
    let out = Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", &conf)
        .args(["--init-token", "--free", "--label", label])
        .args(["--pin", pin, "--so-pin", so_pin])
        .output()
        .expect("softhsm2-util is not installed: run scripts/test.sh");
    assert!(
        out.status.success(),
        "softhsm2-util --init-token failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Provisioned {
        module: module_path(),
        env: vec![(OsString::from("SOFTHSM2_CONF"), conf.into_os_string())],
    }
}
