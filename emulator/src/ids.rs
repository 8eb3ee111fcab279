//! Random identifiers in Dfns's shapes: `us-xxxxx-xxxxx-xxxxxxxxxxxxxxxx` and friends.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::rngs::OsRng;
use rand::{Rng, RngCore};

const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

fn random_chars(n: usize) -> String {
    let mut rng = OsRng;
    (0..n)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

/// `<prefix>-xxxxx-xxxxx-xxxxxxxxxxxxxxxx`, e.g. `us-…` (user), `to-…` (token), `or-…` (org),
/// `cr-…` (credential uuid), `ap-…` (approval), `as-…` (permission assignment), `ch-…`.
pub fn new_id(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}-{}",
        random_chars(5),
        random_chars(5),
        random_chars(16)
    )
}

/// A credential id: base64url (no padding) of 32 random bytes, opaque to clients.
pub fn new_cred_id() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// `N` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    OsRng.fill_bytes(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_match_the_spec_pattern() {
        let re = regex::Regex::new("^us-[a-z0-9]{5}-[a-z0-9]{5}-[a-z0-9]{14,16}$").expect("regex");
        for _ in 0..50 {
            assert!(re.is_match(&new_id("us")));
        }
    }

    #[test]
    fn cred_ids_are_unpadded_base64url() {
        let id = new_cred_id();
        assert_eq!(id.len(), 43);
        assert!(!id.contains('=') && !id.contains('+') && !id.contains('/'));
    }
}
