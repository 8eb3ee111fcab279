//! The Dfns credential signer: turns a user-action challenge into a `firstFactor` assertion.
//!
//! This layer knows Dfns's challenge/assertion format and nothing of HTTP. Two signers share the
//! [`Signer`] trait: [`HsmSigner`] (the key stays in a PKCS#11 token) and [`SoftwareSigner`]
//! (a PKCS#8 PEM file, for bootstrap admins and comparisons).

mod assertion;
mod audit;
mod challenge;
mod client_data;
mod hsm;
mod software;
mod verify;

pub use assertion::{FirstFactor, KeyAssertion};
pub use audit::{sign_audited, AuditLog, AuditRecord};
pub use challenge::{
    AllowCredentials, AllowedCredential, SupportedCredentialKind, UserActionChallenge,
};
pub use client_data::{b64url, client_data_bytes, KEY_GET};
pub use hsm::HsmSigner;
pub use software::SoftwareSigner;
pub use verify::{PublicKey, VerifyError};

use async_trait::async_trait;

use crate::hsm::Algorithm;

/// A Dfns credential signer (what the official SDKs call a `CredentialSigner`).
///
/// Implementations are shared across tasks (`Send + Sync`) and may be called concurrently.
#[async_trait]
pub trait Signer: Send + Sync + std::fmt::Debug {
    /// The Dfns credential id this signer's key is registered under.
    fn cred_id(&self) -> &str;

    /// The key's algorithm.
    fn algorithm(&self) -> Algorithm;

    /// Where the key lives: its `pkcs11:` URI, or `file:PATH` for a software key.
    fn key_uri(&self) -> &str;

    /// The public key as SPKI PEM (`-----BEGIN PUBLIC KEY-----`).
    fn public_key_pem(&self) -> &str;

    /// Sign a user-action challenge and return the `firstFactor` for `POST /auth/action`.
    async fn sign(&self, challenge: &UserActionChallenge) -> Result<FirstFactor, SignerError>;
}

/// Errors of the signer layer.
#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    /// The configured credential is not one the challenge allows.
    #[error(
        "credential {cred_id:?} is not allowed by this challenge (allowed Key credentials: {allowed}): \
         the signing key is not a credential of the identity whose token is used"
    )]
    CredentialNotAllowed {
        /// The signer's credential id.
        cred_id: String,
        /// What the challenge allows, comma separated (or `none`).
        allowed: String,
    },
    /// The HSM failed to sign.
    #[error(transparent)]
    Hsm(#[from] crate::hsm::Error),
    /// A produced signature did not verify against the cached public key.
    #[error("self-check failed: the {algorithm} signature from {key} does not verify against its public key; the token or key handle is not trustworthy, nothing was sent")]
    SelfCheck {
        /// Key description (URI or file).
        key: String,
        /// Algorithm.
        algorithm: Algorithm,
    },
    /// The token's public key for a key pair is not the private key's: a test signature by
    /// the private key does not verify against it.
    #[error("the public-key object of {key} does not match its private key: a test signature made by the private key does not verify against it, so that public key is not used (a public object can be created without the PIN)")]
    PairMismatch {
        /// The key's URI.
        key: String,
    },
    /// A software key could not be loaded.
    #[error("cannot use software key {path}: {reason}")]
    SoftwareKey {
        /// The key file.
        path: String,
        /// What went wrong and what to do.
        reason: String,
    },
    /// The blocking signing task did not complete (runtime shutting down).
    #[error("signing task aborted: {0}")]
    Aborted(String),
}

impl SignerError {
    /// Whether signing again later could succeed: the token had a session or presence fault
    /// that outlived the HSM layer's own retry. A wrong PIN, a spent recovery budget, a bad
    /// key or a failed self-check are not transient.
    pub fn is_transient(&self) -> bool {
        match self {
            SignerError::Hsm(crate::hsm::Error::Unusable { .. }) => false,
            SignerError::Hsm(e) => e.fault() != crate::hsm::Fault::Permanent,
            _ => false,
        }
    }
}

/// Check that `cred_id` is among the challenge's allowed Key credentials.
///
/// An empty allow-list is accepted: some Dfns flows leave it empty and let the server decide.
pub fn check_allowed(cred_id: &str, challenge: &UserActionChallenge) -> Result<(), SignerError> {
    let allowed: Vec<&str> = challenge.allowed_key_ids().collect();
    if allowed.is_empty() || allowed.contains(&cred_id) {
        return Ok(());
    }
    Err(SignerError::CredentialNotAllowed {
        cred_id: cred_id.to_owned(),
        allowed: allowed.join(", "),
    })
}

/// Build the assertion from clientData bytes and a wire-format signature.
pub fn assertion(cred_id: &str, client_data: &[u8], signature: &[u8]) -> FirstFactor {
    FirstFactor::Key {
        credential_assertion: KeyAssertion {
            cred_id: cred_id.to_owned(),
            client_data: b64url(client_data),
            signature: b64url(signature),
        },
    }
}
