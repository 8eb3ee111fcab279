//! A signer that counts: every signature the service makes, for `/v1/sign` or inside the
//! proxy's user-action flow, goes through one of these, so the metrics see them all.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;

use super::metrics::Metrics;
use crate::hsm::Algorithm;
use crate::signer::{FirstFactor, HsmSigner, Signer, SignerError, UserActionChallenge};

/// An identity's HSM signer, recording each outcome and PKCS#11 fault.
///
/// Signatures wait for a free session here, asynchronously: the signer runs on a runtime
/// thread it takes out of the pool (`block_in_place`), and a task that blocked there waiting
/// for a session would cost a thread each (64 clients, 64 threads parked on the pool).
#[derive(Debug, Clone)]
pub struct MeteredSigner {
    inner: HsmSigner,
    identity: String,
    metrics: Arc<Metrics>,
    sessions: Arc<tokio::sync::Semaphore>,
}

impl MeteredSigner {
    /// Count `inner`'s signatures under `identity`; at most `sessions` at once (shared by
    /// every identity on the same token).
    pub fn new(
        inner: HsmSigner,
        identity: &str,
        metrics: Arc<Metrics>,
        sessions: Arc<tokio::sync::Semaphore>,
    ) -> Self {
        Self {
            inner,
            identity: identity.to_owned(),
            metrics,
            sessions,
        }
    }
}

#[async_trait]
impl Signer for MeteredSigner {
    fn cred_id(&self) -> &str {
        self.inner.cred_id()
    }

    fn algorithm(&self) -> Algorithm {
        self.inner.algorithm()
    }

    fn key_uri(&self) -> &str {
        self.inner.key_uri()
    }

    fn public_key_pem(&self) -> &str {
        self.inner.public_key_pem()
    }

    async fn sign(&self, challenge: &UserActionChallenge) -> Result<FirstFactor, SignerError> {
        let _session = self
            .sessions
            .acquire()
            .await
            .map_err(|e| SignerError::Aborted(format!("the session gate is closed: {e}")))?;
        let started = Instant::now();
        let signed = self.inner.sign(challenge).await;
        let algorithm = self.inner.algorithm().to_string();
        let outcome = if signed.is_ok() { "ok" } else { "error" };
        self.metrics
            .signature(&self.identity, &algorithm, outcome, started.elapsed());
        if let Err(SignerError::Hsm(e)) = &signed {
            if let Some(rv) = e.rv() {
                self.metrics.hsm_fault(&crate::hsm::ckr_name(rv));
            }
        }
        signed
    }
}
