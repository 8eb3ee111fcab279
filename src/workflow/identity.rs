//! Proving an identity: a bearer token, a credential id and a signing key that belong together.
//!
//! The proof is a user action obtained as the identity (challenge, signature by its key for
//! its credential, one-time token) for a request that is never sent: Dfns grants the token
//! only when the key is the credential's and the credential the token's identity's, and
//! nothing changes at Dfns. The same proof ends an enrollment and backs `doctor`.

use serde_json::json;

use crate::api::{ApiError, DfnsClient, Method, RequestBody};

/// The request a proof obtains a user action for, and never sends.
///
/// Always a `PUT /auth/service-accounts/{id}` on the identity's own id: for a service account
/// that is its own resource; for an organization user the path names no service account (a
/// user's id is not one). The user-action token is bound to that method, path and payload,
/// is single use, lives minutes and stays in memory: were it ever sent it could at most update
/// the identity's own account with the given body.
#[derive(Debug, Clone)]
pub struct ProofTarget {
    path: String,
    body: RequestBody,
}

impl ProofTarget {
    /// The service account `account_id`, with `body` as the payload (e.g. its current name, so
    /// that even a sent request would change nothing).
    pub fn service_account(account_id: &str, body: RequestBody) -> Self {
        Self {
            path: format!("/auth/service-accounts/{account_id}"),
            body,
        }
    }

    /// The identity a token names (`userId` of its claims), with an empty update `{}` as the
    /// payload. A token that names no usable id gets the collection path
    /// `/auth/service-accounts`, where Dfns serves no `PUT`: any signed path proves the binding,
    /// since the user-action token is never sent.
    pub fn for_user(user_id: Option<&str>) -> Self {
        let body = RequestBody::from(json!({}));
        let usable = |id: &&str| {
            !id.is_empty()
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        match user_id.filter(usable) {
            Some(id) => Self::service_account(id, body),
            None => Self {
                path: "/auth/service-accounts".to_owned(),
                body,
            },
        }
    }

    /// The path the user action is obtained for.
    pub fn path(&self) -> &str {
        &self.path
    }
}

/// What a proof established.
#[derive(Debug, Clone)]
pub struct IdentityProof {
    /// The credential id the signature was made for and Dfns accepted.
    pub cred_id: String,
    /// The signing key (`pkcs11:` URI or `file:PATH`).
    pub key_uri: String,
    /// The method of the request the user action was obtained for (never sent).
    pub method: Method,
    /// Its path.
    pub path: String,
}

/// As `client`'s identity (its bearer token and signer), obtain a user action for `target` and
/// drop it unused: proof that the token, the signer's credential id and its key belong
/// together. Nothing changes at Dfns; the signature is audited like any other.
///
/// Fails with [`ApiError::NoSigner`] when the client has no signer; a credential id that the
/// challenge does not allow fails before anything is signed.
pub async fn prove_identity(
    client: &DfnsClient,
    target: &ProofTarget,
) -> Result<IdentityProof, ApiError> {
    let method = Method::PUT;
    let signer = client.signer().ok_or_else(|| ApiError::NoSigner {
        method: method.clone(),
        target: target.path.clone(),
    })?;
    let (cred_id, key_uri) = (signer.cred_id().to_owned(), signer.key_uri().to_owned());
    // The token is dropped here, unused.
    client
        .obtain_user_action(&method, &target.path, Some(&target.body))
        .await?;
    Ok(IdentityProof {
        cred_id,
        key_uri,
        method,
        path: target.path.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_is_the_identitys_own_account_or_no_resource() {
        let t = ProofTarget::for_user(Some("us-1a2b"));
        assert_eq!(t.path(), "/auth/service-accounts/us-1a2b");
        assert_eq!(t.body.as_str(), "{}");
        for odd in [None, Some(""), Some("us-1/../x"), Some("us?x=1")] {
            let t = ProofTarget::for_user(odd);
            assert_eq!(t.path(), "/auth/service-accounts", "{odd:?}");
        }
    }
}
