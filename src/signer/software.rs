//! A signer holding a PKCS#8 PEM private key in memory.
//!
//! For bootstrap admins (the identity that enrolls HSM keys) and for comparisons; production
//! service-account keys belong in the HSM.

use std::path::Path;

use async_trait::async_trait;
use p256::pkcs8::{DecodePrivateKey as _, EncodePublicKey as _, LineEnding};
use sha2::Sha256;

use super::{
    assertion, check_allowed, client_data_bytes, FirstFactor, PublicKey, Signer, SignerError,
    UserActionChallenge,
};
use crate::hsm::Algorithm;

/// A PEM private key is a few hundred bytes; anything this large is not one.
const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

enum Key {
    P256(p256::ecdsa::SigningKey),
    Secp256k1(k256::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
    Rsa(Box<rsa::pkcs1v15::SigningKey<Sha256>>),
}

/// A software (PEM file) signer.
pub struct SoftwareSigner {
    key: Key,
    public: PublicKey,
    public_pem: String,
    cred_id: String,
    source: String,
}

impl std::fmt::Debug for SoftwareSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftwareSigner")
            .field("source", &self.source)
            .field("cred_id", &self.cred_id)
            .field("algorithm", &self.public.algorithm())
            .field("key", &"<redacted>")
            .finish()
    }
}

impl SoftwareSigner {
    /// Load an unencrypted PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`) file.
    pub fn from_pem_file(path: &Path, cred_id: &str) -> Result<Self, SignerError> {
        let err = |reason: String| SignerError::SoftwareKey {
            path: path.display().to_string(),
            reason,
        };
        // A private key: owner-only, never through a symlink, like ssh's identity files.
        let pem = crate::private_file::read_secret(path, MAX_KEY_FILE_BYTES)
            .map_err(|e| err(e.to_string()))?;
        Self::from_pem(&pem, cred_id, &format!("file:{}", path.display()))
    }

    /// Parse an unencrypted PKCS#8 PEM string; `source` names it in errors and `Debug`.
    pub fn from_pem(pem: &str, cred_id: &str, source: &str) -> Result<Self, SignerError> {
        let err = |reason: String| SignerError::SoftwareKey {
            path: source.to_owned(),
            reason,
        };
        let pem = pem.trim();
        let (key, spki_pem) = if let Ok(k) = p256::ecdsa::SigningKey::from_pkcs8_pem(pem) {
            let p = k.verifying_key().to_public_key_pem(LineEnding::LF);
            (Key::P256(k), p)
        } else if let Ok(k) = k256::ecdsa::SigningKey::from_pkcs8_pem(pem) {
            let p = k.verifying_key().to_public_key_pem(LineEnding::LF);
            (Key::Secp256k1(k), p)
        } else if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_pem(pem) {
            let p = k.verifying_key().to_public_key_pem(LineEnding::LF);
            (Key::Ed25519(k), p)
        } else if let Ok(k) = rsa::RsaPrivateKey::from_pkcs8_pem(pem) {
            let p = k.to_public_key().to_public_key_pem(LineEnding::LF);
            (
                Key::Rsa(Box::new(rsa::pkcs1v15::SigningKey::<Sha256>::new(k))),
                p,
            )
        } else {
            return Err(err(
                "not an unencrypted PKCS#8 PEM (-----BEGIN PRIVATE KEY-----) P-256, secp256k1, \
                 Ed25519 or RSA key; convert with `openssl pkcs8 -topk8 -nocrypt`"
                    .into(),
            ));
        };
        let public_pem = spki_pem.map_err(|e| err(format!("cannot encode its public key: {e}")))?;
        let public = PublicKey::from_spki_pem(&public_pem).map_err(|e| err(e.to_string()))?;
        Ok(Self {
            key,
            public,
            public_pem,
            cred_id: cred_id.to_owned(),
            source: source.to_owned(),
        })
    }

    /// Sign raw clientData bytes, returning the wire-format signature.
    pub fn sign_bytes(&self, message: &[u8]) -> Vec<u8> {
        use p256::ecdsa::signature::Signer as _;
        match &self.key {
            Key::P256(k) => {
                let s: p256::ecdsa::Signature = k.sign(message);
                s.to_der().as_bytes().to_vec()
            }
            Key::Secp256k1(k) => {
                let s: k256::ecdsa::Signature = k.sign(message);
                s.to_der().as_bytes().to_vec()
            }
            Key::Ed25519(k) => k.sign(message).to_bytes().to_vec(),
            Key::Rsa(k) => {
                use rsa::signature::SignatureEncoding as _;
                k.sign(message).to_vec()
            }
        }
    }
}

#[async_trait]
impl Signer for SoftwareSigner {
    fn cred_id(&self) -> &str {
        &self.cred_id
    }

    fn algorithm(&self) -> Algorithm {
        self.public.algorithm()
    }

    fn key_uri(&self) -> &str {
        &self.source
    }

    fn public_key_pem(&self) -> &str {
        &self.public_pem
    }

    async fn sign(&self, challenge: &UserActionChallenge) -> Result<FirstFactor, SignerError> {
        check_allowed(&self.cred_id, challenge)?;
        let data = client_data_bytes(&challenge.challenge);
        let sig = self.sign_bytes(&data);
        self.public
            .verify(&data, &sig)
            .map_err(|_| SignerError::SelfCheck {
                key: self.source.clone(),
                algorithm: self.public.algorithm(),
            })?;
        Ok(assertion(&self.cred_id, &data, &sig))
    }
}
