//! The HSM-backed signer: every signature is made by the token through PKCS#11.

use std::sync::Arc;

use async_trait::async_trait;

use super::{
    assertion, check_allowed, client_data_bytes, FirstFactor, PublicKey, Signer, SignerError,
    UserActionChallenge,
};
use crate::hsm::{Algorithm, Key};

/// A Dfns credential signer whose private key never leaves the HSM.
///
/// `Send + Sync` and cheap to clone: many tasks may sign at once; each signature runs on its
/// own pooled session, inside `block_in_place` on a multi-thread runtime (other tasks move to
/// another worker) or on the blocking pool on a current-thread one, so the async runtime never
/// waits on the token.
#[derive(Clone)]
pub struct HsmSigner {
    inner: Arc<Inner>,
}

struct Inner {
    key: Arc<Key>,
    public: PublicKey,
    public_pem: String,
    cred_id: String,
    key_uri: String,
}

impl std::fmt::Debug for HsmSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HsmSigner")
            .field("key_uri", &self.inner.key_uri)
            .field("cred_id", &self.inner.cred_id)
            .field("algorithm", &self.inner.key.algorithm())
            .finish()
    }
}

impl HsmSigner {
    /// Wrap a token key registered at Dfns under `cred_id`.
    pub fn new(key: Arc<Key>, cred_id: &str) -> Result<Self, SignerError> {
        let key_uri = key.uri().to_string();
        let public = PublicKey::from_spki_der(key.info().spki_der()).map_err(|e| {
            SignerError::Hsm(crate::hsm::Error::UnsupportedKey(format!("{key_uri}: {e}")))
        })?;
        let public_pem = key.info().public_key_pem.clone().unwrap_or_default();
        Ok(Self {
            inner: Arc::new(Inner {
                key,
                public,
                public_pem,
                cred_id: cred_id.to_owned(),
                key_uri,
            }),
        })
    }

    /// Prove that the public key the token reports belongs to the private key: sign a random
    /// challenge on the token and verify it against that public key. Call it before the public
    /// key is exported or registered anywhere: anyone with a public session (no PIN) can create
    /// public-key objects. (Every signature the signer returns is checked the same way, so
    /// signing needs no separate proof.) Blocking: call from a blocking context.
    pub fn prove_pair(&self) -> Result<(), SignerError> {
        let mut challenge = b"key pair proof: ".to_vec();
        challenge.extend_from_slice(&rand::random::<[u8; 32]>());
        let signature = self.inner.key.sign(&challenge)?;
        self.inner
            .public
            .verify(&challenge, &signature)
            .map_err(|_| SignerError::PairMismatch {
                key: self.inner.key_uri.clone(),
            })
    }

    /// The underlying token key.
    pub fn key(&self) -> &Arc<Key> {
        &self.inner.key
    }

    /// Sign `message` on the token and check the result against the cached public key.
    /// Blocking: call from a blocking context.
    pub fn sign_bytes_blocking(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        self.inner.sign_bytes(message)
    }
}

impl Inner {
    fn sign_bytes(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        let signature = self.key.sign(message)?;
        self.public
            .verify(message, &signature)
            .map_err(|_| SignerError::SelfCheck {
                key: self.key_uri.clone(),
                algorithm: self.key.algorithm(),
            })?;
        Ok(signature)
    }
}

#[async_trait]
impl Signer for HsmSigner {
    fn cred_id(&self) -> &str {
        &self.inner.cred_id
    }

    fn algorithm(&self) -> Algorithm {
        self.inner.key.algorithm()
    }

    fn key_uri(&self) -> &str {
        &self.inner.key_uri
    }

    fn public_key_pem(&self) -> &str {
        &self.inner.public_pem
    }

    async fn sign(&self, challenge: &UserActionChallenge) -> Result<FirstFactor, SignerError> {
        check_allowed(&self.inner.cred_id, challenge)?;
        let data = client_data_bytes(&challenge.challenge);
        let signature = match tokio::runtime::Handle::try_current() {
            // On a multi-thread runtime, sign on this thread and let tokio hand its other
            // tasks to another worker: no hop to a blocking thread and back, which costs more
            // than a fast token's whole C_Sign (see docs/PERFORMANCE.md).
            Ok(rt) if rt.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| self.inner.sign_bytes(&data))?
            }
            // A current-thread runtime cannot give its thread away: use the blocking pool.
            _ => {
                let inner = Arc::clone(&self.inner);
                let owned = data.clone();
                tokio::task::spawn_blocking(move || inner.sign_bytes(&owned))
                    .await
                    .map_err(|e| SignerError::Aborted(e.to_string()))??
            }
        };
        Ok(assertion(&self.inner.cred_id, &data, &signature))
    }
}

// The signer is shared by many tasks and threads: keep it so at compile time.
const _: fn() = || {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<HsmSigner>();
    shareable::<crate::hsm::Token>();
    shareable::<crate::hsm::Key>();
};
