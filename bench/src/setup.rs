//! The benchmark's keys on the kit's throwaway token, and where the release binaries are.

use std::path::PathBuf;
use std::sync::Arc;

use dfns_hsm::hsm::{Algorithm, Key, KeySelector, Token, TokenOptions};

/// Token options with a pool of `max_sessions` worker sessions.
pub fn pool_of(max_sessions: usize) -> TokenOptions {
    TokenOptions {
        max_sessions,
        ..TokenOptions::default()
    }
}

/// The key label used for `algorithm`.
pub fn key_label(algorithm: Algorithm) -> String {
    format!("bench-{algorithm}")
}

/// Generate one key per algorithm on the token.
pub fn generate_keys(token: &Arc<Token>, algorithms: &[Algorithm]) {
    for &a in algorithms {
        Key::generate(token, &key_label(a), a)
            .unwrap_or_else(|e| panic!("generate the {a} benchmark key: {e}"));
    }
}

/// Find the benchmark key of `algorithm`.
pub fn find_key(token: &Arc<Token>, algorithm: Algorithm) -> Arc<Key> {
    Arc::new(
        Key::find(token, KeySelector::Label(key_label(algorithm)))
            .unwrap_or_else(|e| panic!("find the {algorithm} benchmark key: {e}")),
    )
}

/// Directory of this executable (`target/release`): the other binaries are built beside it.
pub fn bin_dir() -> PathBuf {
    testkit::artifact::profile_dir()
}
