//! Assertion signature verification over the exact clientData bytes.
//!
//! - ECDSA (P-256, secp256k1): SHA-256 of the message, signature in ASN.1 DER only; a raw
//!   `r||s` is rejected. High-S signatures are accepted (Node/OpenSSL do not normalize), so a
//!   secp256k1 signature is normalized to low-S before the `k256` check, which demands it.
//! - Ed25519: pure Ed25519 over the message, 64 raw bytes.
//! - RSA: PKCS#1 v1.5 with SHA-256, modulus-length signature.

use ed25519_dalek::Verifier as _;

use crate::public_key::PublicKey;

/// Why an assertion signature was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureError {
    /// The bytes are not a signature of the key's algorithm (e.g. raw `r||s` for ECDSA).
    Malformed(String),
    /// Well-formed, but it does not verify against the credential's public key.
    Mismatch,
}

impl std::fmt::Display for SignatureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed(why) => f.write_str(why),
            Self::Mismatch => f.write_str(
                "the signature does not verify over the clientData bytes with the credential's public key",
            ),
        }
    }
}

impl PublicKey {
    /// Verify `signature` over `message` (the decoded clientData bytes).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
        match self {
            Self::P256(key) => {
                p256::ecdsa::Signature::from_der(signature).map_err(|_| der_required())?;
                // Same check, done by ring's assembly verifier: several times faster than the
                // pure-Rust one, which otherwise dominates the emulator's CPU per signed request.
                ring::signature::UnparsedPublicKey::new(
                    &ring::signature::ECDSA_P256_SHA256_ASN1,
                    key.to_encoded_point(false).as_bytes(),
                )
                .verify(message, signature)
                .map_err(|_| SignatureError::Mismatch)
            }
            Self::Secp256k1(key) => {
                let sig =
                    k256::ecdsa::Signature::from_der(signature).map_err(|_| der_required())?;
                let sig = sig.normalize_s().unwrap_or(sig);
                key.verify(message, &sig)
                    .map_err(|_| SignatureError::Mismatch)
            }
            Self::Ed25519(key) => {
                let sig = ed25519_dalek::Signature::from_slice(signature).map_err(|_| {
                    SignatureError::Malformed(format!(
                        "an Ed25519 signature is 64 raw bytes, got {} bytes",
                        signature.len()
                    ))
                })?;
                key.verify(message, &sig)
                    .map_err(|_| SignatureError::Mismatch)
            }
            Self::Rsa(key) => {
                let sig = rsa::pkcs1v15::Signature::try_from(signature).map_err(|_| {
                    SignatureError::Malformed("not an RSA PKCS#1 v1.5 signature".into())
                })?;
                key.verify(message, &sig)
                    .map_err(|_| SignatureError::Mismatch)
            }
        }
    }
}

fn der_required() -> SignatureError {
    SignatureError::Malformed(
        "ECDSA signatures must be ASN.1 DER encoded (raw r||s is not accepted)".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Signer as _;

    const MSG: &[u8] = br#"{"challenge":"abc","type":"key.get"}"#;

    #[test]
    fn p256_der_verifies_and_raw_is_rejected() {
        let sk = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
        let key = PublicKey::P256(*sk.verifying_key());
        let sig: p256::ecdsa::Signature = sk.sign(MSG);
        assert_eq!(key.verify(MSG, sig.to_der().as_bytes()), Ok(()));
        assert!(matches!(
            key.verify(MSG, &sig.to_bytes()),
            Err(SignatureError::Malformed(_))
        ));
        assert_eq!(
            key.verify(b"other", sig.to_der().as_bytes()),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn secp256k1_high_s_is_accepted() {
        let sk = k256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
        let key = PublicKey::Secp256k1(*sk.verifying_key());
        let sig: k256::ecdsa::Signature = sk.sign(MSG);
        let (r, s) = sig.split_scalars();
        let high = k256::ecdsa::Signature::from_scalars(r, -*s).expect("high-s signature");
        assert!(bool::from(k256::elliptic_curve::scalar::IsHigh::is_high(
            &*high.s()
        )));
        assert_eq!(key.verify(MSG, high.to_der().as_bytes()), Ok(()));
        assert_eq!(key.verify(MSG, sig.to_der().as_bytes()), Ok(()));
    }

    #[test]
    fn p256_vector_from_the_research_verifies() {
        // RFC 6979 A.2.5 P-256 key, signature over the recommended clientData (high-S).
        use base64::Engine as _;
        let d = [
            0xC9, 0xAF, 0xA9, 0xD8, 0x45, 0xBA, 0x75, 0x16, 0x6B, 0x5C, 0x21, 0x57, 0x67, 0xB1,
            0xD6, 0x93, 0x4E, 0x50, 0xC3, 0xDB, 0x36, 0xE8, 0x9B, 0x12, 0x7B, 0x8A, 0x62, 0x2B,
            0x12, 0x0F, 0x67, 0x21,
        ];
        let sk = p256::ecdsa::SigningKey::from_slice(&d).expect("key");
        let key = PublicKey::P256(*sk.verifying_key());
        let msg = br#"{"challenge":"Y2gtNzloaHQtbXJlb2stOGFwOHFtMmVpZWZ0amxhZw","type":"key.get"}"#;
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode("MEYCIQCcDiPiBwOrmvW8xWvhn07bHOwXjX_ByjvG497UPSnU7AIhAP0ttj9b4HV2kLki_WzHAXDppeo7k40FslSU5Gc0KfN0")
            .expect("b64");
        assert_eq!(key.verify(msg, &sig), Ok(()));
    }
}
