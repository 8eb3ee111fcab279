//! Signature verification against a public key (SPKI), for every supported algorithm.
//!
//! The signer checks each signature it produces before returning it; a token that returns a
//! bad signature (firmware bug, wrong key handle after recovery) is caught here, not at Dfns.

use ed25519_dalek::Verifier as _;
use p256::pkcs8::DecodePublicKey as _;
use rsa::pkcs1v15;
use sha2::Sha256;

use crate::hsm::Algorithm;

/// A parsed public key that can verify Dfns assertion signatures.
#[derive(Debug, Clone)]
pub enum PublicKey {
    /// NIST P-256.
    P256(p256::ecdsa::VerifyingKey),
    /// secp256k1.
    Secp256k1(k256::ecdsa::VerifyingKey),
    /// Ed25519.
    Ed25519(ed25519_dalek::VerifyingKey),
    /// RSA with PKCS#1 v1.5 / SHA-256.
    Rsa(Box<pkcs1v15::VerifyingKey<Sha256>>, usize),
}

/// Why a public key or signature was rejected.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The SPKI could not be parsed as any supported key.
    #[error("unsupported or malformed public key: {0}")]
    BadKey(String),
    /// The signature did not verify.
    #[error("signature does not verify against the public key")]
    Mismatch,
}

impl PublicKey {
    /// Parse a DER SubjectPublicKeyInfo.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, VerifyError> {
        if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_der(der) {
            return Ok(PublicKey::P256(k));
        }
        if let Ok(k) = k256::ecdsa::VerifyingKey::from_public_key_der(der) {
            return Ok(PublicKey::Secp256k1(k));
        }
        if let Ok(k) = ed25519_dalek::VerifyingKey::from_public_key_der(der) {
            return Ok(PublicKey::Ed25519(k));
        }
        if let Ok(k) = rsa::RsaPublicKey::from_public_key_der(der) {
            let bits = rsa::traits::PublicKeyParts::size(&k) * 8;
            return Ok(PublicKey::Rsa(
                Box::new(pkcs1v15::VerifyingKey::<Sha256>::new(k)),
                bits,
            ));
        }
        Err(VerifyError::BadKey(
            "not a P-256, secp256k1, Ed25519 or RSA SubjectPublicKeyInfo".into(),
        ))
    }

    /// Parse a `-----BEGIN PUBLIC KEY-----` PEM.
    pub fn from_spki_pem(pem: &str) -> Result<Self, VerifyError> {
        let (label, der) = spki::der::pem::decode_vec(pem.trim().as_bytes())
            .map_err(|e| VerifyError::BadKey(format!("not PEM: {e}")))?;
        if label != "PUBLIC KEY" {
            return Err(VerifyError::BadKey(format!(
                "PEM label is {label:?}, expected \"PUBLIC KEY\""
            )));
        }
        Self::from_spki_der(&der)
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            PublicKey::P256(_) => Algorithm::EcdsaP256,
            PublicKey::Secp256k1(_) => Algorithm::EcdsaSecp256k1,
            PublicKey::Ed25519(_) => Algorithm::Ed25519,
            PublicKey::Rsa(_, bits) if *bits > 2048 => Algorithm::Rsa3072,
            PublicKey::Rsa(_, _) => Algorithm::Rsa2048,
        }
    }

    /// Verify `signature` (in Dfns wire form: DER for ECDSA) over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), VerifyError> {
        let ok = match self {
            // ring's assembly P-256 verifier is several times faster than the pure-Rust one
            // and checks the same thing (strict DER, r and s in range); the signer runs this
            // for every signature it makes.
            PublicKey::P256(k) => ring::signature::UnparsedPublicKey::new(
                &ring::signature::ECDSA_P256_SHA256_ASN1,
                k.to_encoded_point(false).as_bytes(),
            )
            .verify(message, signature)
            .is_ok(),
            PublicKey::Secp256k1(k) => k256::ecdsa::Signature::from_der(signature)
                .map(|s| k.verify(message, &s).is_ok())
                .unwrap_or(false),
            PublicKey::Ed25519(k) => ed25519_dalek::Signature::from_slice(signature)
                .map(|s| k.verify(message, &s).is_ok())
                .unwrap_or(false),
            PublicKey::Rsa(k, _) => pkcs1v15::Signature::try_from(signature)
                .map(|s| {
                    use rsa::signature::Verifier as _;
                    k.verify(message, &s).is_ok()
                })
                .unwrap_or(false),
        };
        if ok {
            Ok(())
        } else {
            Err(VerifyError::Mismatch)
        }
    }
}
