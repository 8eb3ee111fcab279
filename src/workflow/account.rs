//! Creating a service account for a public key and keeping its one-time token.

use crate::api::{AuthToken, CreateServiceAccount, DfnsClient, Outcome, ServiceAccount};

use super::error::WorkflowError;
use super::interrupt::Interrupt;
use super::store::TokenStore;

/// What a new service account is created with.
#[derive(Debug, Clone, Default)]
pub struct AccountRequest {
    /// Unique name of the account.
    pub name: String,
    /// Token lifetime in days (1 to 730; Dfns's default when `None`).
    pub days_valid: Option<u32>,
    /// Permission to assign at creation (`pm-...`).
    pub permission_id: Option<String>,
    /// The caller's correlation id.
    pub external_id: Option<String>,
}

/// An account just created, its token kept.
#[derive(Debug, Clone)]
pub struct CreatedAccount {
    /// The account as Dfns returned it.
    pub account: ServiceAccount,
    /// Its one-time access token (redacted in `Debug`).
    pub access_token: AuthToken,
    /// Where the token was stored, when a store was given.
    pub stored_at: Option<String>,
}

/// Create a service account registering `public_key_pem`, then store its token in `store`.
///
/// A create held for approval (HTTP 202) is returned as is: Dfns hands out no token then.
///
/// A stop requested on `interrupt` before the create starts ends the call with
/// [`WorkflowError::Interrupted`] (nothing was sent). Once the create has started it is not
/// cut: the stop waits until the create has completed (or was reconciled) and its token is
/// stored, and this returns as it would have; check [`Interrupt::is_requested`] afterwards.
pub async fn create_account(
    admin: &DfnsClient,
    request: &AccountRequest,
    public_key_pem: String,
    store: Option<&dyn TokenStore>,
    interrupt: &Interrupt,
) -> Result<Outcome<CreatedAccount>, WorkflowError> {
    // From here until the token is stored, a stop is deferred (the token exists only once).
    let Some(_critical) = interrupt.enter_critical() else {
        return Err(WorkflowError::Interrupted {
            generated_key: None,
        });
    };
    let body = CreateServiceAccount {
        name: request.name.clone(),
        public_key: public_key_pem,
        permission_id: request.permission_id.clone(),
        external_id: request.external_id.clone(),
        days_valid: request.days_valid,
    };
    let account = match admin.service_accounts().create(&body).await {
        Ok(Outcome::Done(account)) => account,
        Ok(Outcome::PendingApproval(approval)) => return Ok(Outcome::PendingApproval(approval)),
        Err(source) => {
            return Err(WorkflowError::Create {
                source: Box::new(source),
                generated_key: None,
            })
        }
    };
    let access_token = account
        .access_token()
        .cloned()
        .ok_or_else(|| WorkflowError::NoToken {
            account_id: account.id().to_owned(),
        })?;
    let stored_at = match store {
        Some(store) => {
            store
                .store(&access_token)
                .map_err(|source| WorkflowError::TokenNotSaved {
                    account_id: account.id().to_owned(),
                    destination: store.describe(),
                    source,
                })?;
            Some(store.describe())
        }
        None => None,
    };
    Ok(Outcome::Done(CreatedAccount {
        account,
        access_token,
        stored_at,
    }))
}
