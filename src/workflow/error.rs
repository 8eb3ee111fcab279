//! What can stop a workflow, with what already exists at that point.

use crate::api::ApiError;
use crate::hsm::{Algorithm, Error as HsmError};
use crate::signer::SignerError;

/// Why a workflow stopped. Variants after the create name the account that now exists.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    /// A key with the requested label exists with another algorithm.
    #[error("key {label:?} exists and is {existing}, not {requested}")]
    AlgorithmMismatch {
        /// The label.
        label: String,
        /// The existing key's algorithm.
        existing: Algorithm,
        /// The algorithm asked for.
        requested: Algorithm,
    },
    /// A service account with that name exists; nothing was generated or created.
    #[error("a service account named {name:?} already exists ({account_id}); nothing was generated or created")]
    NameTaken {
        /// The name.
        name: String,
        /// The account that has it.
        account_id: String,
    },
    /// The HSM failed.
    #[error(transparent)]
    Hsm(#[from] HsmError),
    /// The key's public half cannot be read, so it cannot be registered.
    #[error("the public key of {key_uri} cannot be read")]
    NoPublicKey {
        /// The key.
        key_uri: String,
    },
    /// The create call failed; nothing was created (or the API error says what to check).
    #[error("{source}{}", generated_key.as_ref().map(|k| format!("\nnote: the key {k} was generated for this enrollment and is kept")).unwrap_or_default())]
    Create {
        /// The API's error.
        source: Box<ApiError>,
        /// The key generated for this run, which stays on the token.
        generated_key: Option<String>,
    },
    /// A stop was requested (see [`super::Interrupt`]) before the create was sent: nothing
    /// was created at Dfns.
    #[error("stopped before the service account was created: nothing was created at Dfns{}", generated_key.as_ref().map(|k| format!("\nnote: the key {k} was generated for this enrollment and is kept")).unwrap_or_default())]
    Interrupted {
        /// The key generated for this run, which stays on the token.
        generated_key: Option<String>,
    },
    /// The create response carried no access token.
    #[error("service account {account_id} was created but the response carried no access token; archive it and create it again")]
    NoToken {
        /// The account that exists.
        account_id: String,
    },
    /// The token could not be written: it is lost.
    #[error("SERVICE ACCOUNT {account_id} WAS CREATED BUT ITS TOKEN COULD NOT BE SAVED to {destination}: {source}.\nDfns returns a token only once, so it is lost: archive the account and enroll again")]
    TokenNotSaved {
        /// The account that exists.
        account_id: String,
        /// Where the token was to go.
        destination: String,
        /// Why it could not.
        source: std::io::Error,
    },
    /// The signed round trip as the new account failed; the account exists, its token saved.
    #[error("service account {account_id} was created and its token saved, but a signed round trip as it failed: {source}")]
    Proof {
        /// The account that exists.
        account_id: String,
        /// What failed.
        source: Box<ApiError>,
    },
    /// Another API call failed.
    #[error(transparent)]
    Api(Box<ApiError>),
    /// The signer could not be built.
    #[error(transparent)]
    Signer(#[from] SignerError),
    /// A blocking HSM task did not complete (runtime shutting down).
    #[error("HSM task aborted: {0}")]
    Aborted(String),
}

impl From<ApiError> for WorkflowError {
    fn from(e: ApiError) -> Self {
        WorkflowError::Api(Box::new(e))
    }
}
