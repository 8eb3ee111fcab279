//! A signer that counts: every signature the service makes, for `/v1/sign` or inside the
//! proxy's user-action flow, goes through one of these, so the metrics see them all.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;

use super::metrics::Metrics;
use crate::hsm::Algorithm;
use crate::signer::{FirstFactor, HsmSigner, Signer, SignerError, UserActionChallenge};

/// An identity's HSM signer, recording each outcome and PKCS#11 fault.
#[derive(Debug, Clone)]
pub struct MeteredSigner {
    inner: HsmSigner,
    identity: String,
    metrics: Arc<Metrics>,
}

impl MeteredSigner {
    /// Count `inner`'s signatures under `identity`.
    pub fn new(inner: HsmSigner, identity: &str, metrics: Arc<Metrics>) -> Self {
        Self {
            inner,
            identity: identity.to_owned(),
            metrics,
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
