//! Independent verification: the `openssl` command line, and RustCrypto's `p256`. Neither made
//! the signature (the token did) nor is dfns-hsm's own self-check (`ring`), so a suite never
//! trusts the code it tests; this module must not call into dfns-hsm.

use std::path::Path;
use std::process::Command;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::KeyAlgorithm;

/// Decode base64url without padding (what Dfns documents carry).
///
/// # Panics
/// On anything else.
pub fn b64url_decode(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(s)
        .expect("base64url without padding")
}

/// Verify `sig` over `message` with `openssl`, given an SPKI PEM public key: Ed25519 over the
/// raw message, ECDSA (DER) and RSA PKCS#1 v1.5 over SHA-256. Scratch files go in `dir`.
pub fn openssl_verify(
    dir: &Path,
    alg: impl Into<KeyAlgorithm>,
    pem: &str,
    message: &[u8],
    sig: &[u8],
) -> bool {
    // Unique per call: tests verify concurrently in one scratch dir.
    let id = crate::unique_label("verify");
    let pub_path = dir.join(format!("pub-{id}.pem"));
    let msg_path = dir.join(format!("msg-{id}.bin"));
    let sig_path = dir.join(format!("sig-{id}.bin"));
    std::fs::write(&pub_path, pem).expect("write pem");
    std::fs::write(&msg_path, message).expect("write msg");
    std::fs::write(&sig_path, sig).expect("write sig");
    let mut cmd = Command::new("openssl");
    match alg.into() {
        KeyAlgorithm::Ed25519 => cmd
            .args(["pkeyutl", "-verify", "-pubin", "-rawin", "-inkey"])
            .arg(&pub_path)
            .arg("-in")
            .arg(&msg_path)
            .arg("-sigfile")
            .arg(&sig_path),
        // ECDSA (DER signature expected by openssl) and RSA PKCS#1 v1.5.
        _ => cmd
            .args(["dgst", "-sha256", "-verify"])
            .arg(&pub_path)
            .arg("-signature")
            .arg(&sig_path)
            .arg(&msg_path),
    };
    let out = cmd.output().expect("openssl is not installed");
    out.status.success()
}

/// Verify a P-256 DER signature with RustCrypto's `p256` (for bulk checks where spawning
/// openssl is slow). Neither the token nor the signer's self-check (`ring`) uses it.
pub fn verify_p256(spki_der: &[u8], message: &[u8], sig_der: &[u8]) -> bool {
    use p256::ecdsa::signature::Verifier as _;
    use p256::pkcs8::DecodePublicKey as _;
    let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_der(spki_der) else {
        return false;
    };
    let Ok(sig) = p256::ecdsa::Signature::from_der(sig_der) else {
        return false;
    };
    key.verify(message, &sig).is_ok()
}

/// A `firstFactor` document printed by the CLI: a Key assertion for `cred_id` whose clientData
/// is exactly `{"challenge":"<challenge>","type":"key.get"}` and whose signature `openssl`
/// verifies over those bytes with `pem`.
///
/// # Panics
/// When any of that does not hold.
pub fn assert_first_factor_verifies(
    dir: &Path,
    alg: impl Into<KeyAlgorithm>,
    pem: &str,
    first_factor: &str,
    cred_id: &str,
    challenge: &str,
) {
    let alg = alg.into();
    let ff: serde_json::Value = serde_json::from_str(first_factor)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {first_factor}"));
    assert_eq!(ff["kind"], "Key", "{ff}");
    let a = &ff["credentialAssertion"];
    assert_eq!(a["credId"], cred_id, "{ff}");
    let data = b64url_decode(a["clientData"].as_str().expect("clientData"));
    assert_eq!(
        data,
        format!(r#"{{"challenge":"{challenge}","type":"key.get"}}"#).into_bytes()
    );
    let sig = b64url_decode(a["signature"].as_str().expect("signature"));
    assert!(
        openssl_verify(dir, alg, pem, &data, &sig),
        "{alg}: openssl rejects the signature"
    );
}
