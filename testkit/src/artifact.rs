//! What the workspace builds, found beside the running executable.
//!
//! A test executable lives in `target/<profile>/deps/`, the benchmark in `target/<profile>/`;
//! binaries and cdylibs of the other packages are in `target/<profile>/`. Cargo names them at
//! compile time only for the package's own binaries (`CARGO_BIN_EXE_*`), so the kit looks.

use std::path::{Path, PathBuf};

/// `target/<profile>` of the running executable.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("locate the running executable");
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

/// The workspace binary `name` in [`profile_dir`].
///
/// # Panics
/// When it is not built.
pub fn binary(name: &str) -> PathBuf {
    let path = profile_dir().join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} not found: run `cargo build --workspace` first",
        path.display()
    );
    path
}

/// The fault-injecting module's cdylib (`tests/faulty-pkcs11`): `target/<profile>/` (what
/// `cargo build --workspace` leaves) or `target/<profile>/deps/` (what `cargo test` refreshes
/// without copying it up), whichever is newer.
///
/// # Panics
/// When neither exists.
pub fn faulty_module() -> PathBuf {
    let profile = profile_dir();
    let name = format!(
        "{}faulty_pkcs11{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let newest = [profile.join(&name), profile.join("deps").join(&name)]
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
            profile.join(&name).display()
        ),
    }
}
