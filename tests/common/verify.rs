//! Independent verification: the `openssl` command line, and RustCrypto's `p256`, neither of
//! which made the signature (the token did) nor is dfns-hsm's own P-256 self-check (`ring`).

use std::path::Path;
use std::process::Command;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use dfns_hsm::hsm::Algorithm;

pub fn b64url_decode(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(s)
        .expect("base64url without padding")
}

/// Verify `sig` over `message` with `openssl`, given an SPKI PEM public key.
pub fn openssl_verify(dir: &Path, alg: Algorithm, pem: &str, message: &[u8], sig: &[u8]) -> bool {
    let id = format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    let pub_path = dir.join(format!("pub-{id}.pem"));
    let msg_path = dir.join(format!("msg-{id}.bin"));
    let sig_path = dir.join(format!("sig-{id}.bin"));
    std::fs::write(&pub_path, pem).expect("write pem");
    std::fs::write(&msg_path, message).expect("write msg");
    std::fs::write(&sig_path, sig).expect("write sig");
    let out = match alg {
        Algorithm::Ed25519 => Command::new("openssl")
            .args(["pkeyutl", "-verify", "-pubin", "-rawin", "-inkey"])
            .arg(&pub_path)
            .arg("-in")
            .arg(&msg_path)
            .arg("-sigfile")
            .arg(&sig_path)
            .output(),
        // ECDSA (DER signature expected by openssl) and RSA PKCS#1 v1.5.
        _ => Command::new("openssl")
            .args(["dgst", "-sha256", "-verify"])
            .arg(&pub_path)
            .arg("-signature")
            .arg(&sig_path)
            .arg(&msg_path)
            .output(),
    }
    .expect("openssl is not installed");
    out.status.success()
}

/// Verify a P-256 DER signature with RustCrypto's `p256` (for bulk checks where spawning
/// openssl is slow). Neither the token (SoftHSM2) nor the signer's self-check (`ring`) uses it.
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
pub fn assert_first_factor_verifies(
    dir: &Path,
    alg: Algorithm,
    pem: &str,
    first_factor: &str,
    cred_id: &str,
    challenge: &str,
) {
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
