//! Locating the fault-injecting PKCS#11 module (`tests/faulty-pkcs11`) built by the workspace.

use std::path::PathBuf;

/// The faulty module's cdylib: `target/<profile>/libfaulty_pkcs11.so` (what `cargo build
/// --workspace` leaves) or `target/<profile>/deps/libfaulty_pkcs11.so` (what `cargo test
/// --workspace` refreshes without copying it up), whichever is newer.
pub fn faulty_module() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe
        .parent()
        .expect("test binary lives in target/<profile>/deps");
    let profile_dir = deps.parent().expect("target/<profile>");
    let name = format!(
        "{}faulty_pkcs11{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let newest = [profile_dir.join(&name), deps.join(&name)]
        .into_iter()
        .filter_map(|p| {
            let modified = std::fs::metadata(&p).and_then(|m| m.modified()).ok()?;
            Some((modified, p))
        })
        .max();
    match newest {
        Some((_, so)) => so,
        None => panic!(
            "{} not found: run `cargo build --workspace` first",
            profile_dir.join(&name).display()
        ),
    }
}
