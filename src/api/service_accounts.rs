//! Typed service-account calls (`/auth/service-accounts`).
//!
//! Reads return the value; mutations return an [`Outcome`], since a Dfns policy may hold them
//! for approval (HTTP 202). Bodies follow the module's empty-body rule: activate, archive and
//! an unforced deactivate send no body and sign the payload `""`.
//!
//! Reconciliation: when a mutation may have been carried out but no answer came back, the
//! retry loop ([`super::retry`]) runs the call's check, which reads the account, before it
//! decides to send it again. The checks are here:
//!
//! | call | in effect when |
//! |---|---|
//! | create | the list holds an account with the requested `name` (and `externalId`, when both sides have one): the call then fails with [`ApiError::CreatedTokenLost`], since the token is gone |
//! | update | `get` shows the requested `name` and `externalId` |
//! | activate / deactivate | `get` shows `isActive` true / false |
//! | archive | `get` answers 404 |
//!
//! Dfns has no idempotency key for these endpoints; the unique name is what keeps a create
//! from happening twice (a second one would get 409, which is then reconciled the same way).

use std::future::Future;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::Method;

use super::body::RequestBody;
use super::client::DfnsClient;
use super::error::ApiError;
use super::outcome::Outcome;
use super::retry::{Check, Settled};
use super::target::RequestTarget;
use super::types::{
    CreateServiceAccount, ServiceAccount, ServiceAccountList, UpdateServiceAccount,
};

const BASE: &str = "/auth/service-accounts";

/// Characters left as they are in a path segment (RFC 3986 unreserved).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

impl DfnsClient {
    /// Service-account calls.
    pub fn service_accounts(&self) -> ServiceAccounts<'_> {
        ServiceAccounts { client: self }
    }
}

/// Service-account calls of a [`DfnsClient`].
#[derive(Debug, Clone, Copy)]
pub struct ServiceAccounts<'a> {
    client: &'a DfnsClient,
}

impl<'a> ServiceAccounts<'a> {
    /// `GET /auth/service-accounts`: every service account of the organization.
    pub async fn list(&self) -> Result<ServiceAccountList, ApiError> {
        self.client.read(&target(BASE.to_owned(), None)).await
    }

    /// `GET /auth/service-accounts/{serviceAccountId}`.
    pub async fn get(&self, id: &str) -> Result<ServiceAccount, ApiError> {
        self.client.read(&account(id, "", None)?).await
    }

    /// `POST /auth/service-accounts` (user action). The response holds the new account's only
    /// copy of its token: see [`ServiceAccount::access_token`].
    ///
    /// If the account was created but the answer was lost, the call fails with
    /// [`ApiError::CreatedTokenLost`] naming the account: it exists, but without its token it
    /// is useless; archive it and create it again. It is never created twice.
    pub async fn create(
        &self,
        request: &CreateServiceAccount,
    ) -> Result<Outcome<ServiceAccount>, ApiError> {
        if request.name.is_empty() {
            return Err(ApiError::InvalidRequest(
                "a service account needs a non-empty name".into(),
            ));
        }
        if request.days_valid == Some(0) {
            return Err(ApiError::InvalidRequest(
                "daysValid must be at least 1".into(),
            ));
        }
        let body = RequestBody::json(request).map_err(ApiError::InvalidRequest)?;
        let this = *self;
        let settled = self
            .client
            .mutate_reconciled(
                Method::POST,
                &target(BASE.to_owned(), None),
                Some(&body),
                move || this.find_created(request),
            )
            .await?;
        match settled {
            Settled::Answered(outcome) => Ok(outcome),
            Settled::Reconciled { value, cause } => {
                let matched_by = match (&request.external_id, value.external_id()) {
                    (Some(want), Some(have)) if want == have => "name and externalId",
                    _ => "name",
                };
                let err = ApiError::CreatedTokenLost {
                    account_id: value.id().to_owned(),
                    name: request.name.clone(),
                    matched_by,
                    cause: Box::new(cause),
                };
                tracing::error!(
                    service_account = value.id(),
                    "service account created but its token was lost with the response"
                );
                self.client.count_token_lost(&err);
                Err(err)
            }
        }
    }

    /// `PUT /auth/service-accounts/{serviceAccountId}` (user action).
    pub async fn update(
        &self,
        id: &str,
        request: &UpdateServiceAccount,
    ) -> Result<Outcome<ServiceAccount>, ApiError> {
        let body = RequestBody::json(request).map_err(ApiError::InvalidRequest)?;
        let this = *self;
        self.change(
            Method::PUT,
            &account(id, "", None)?,
            Some(&body),
            move || this.check_updated(id, request),
        )
        .await
    }

    /// `PUT /auth/service-accounts/{serviceAccountId}/activate` (user action, no body).
    pub async fn activate(&self, id: &str) -> Result<Outcome<ServiceAccount>, ApiError> {
        let this = *self;
        self.change(
            Method::PUT,
            &account(id, "/activate", None)?,
            None,
            move || this.check_active(id, true),
        )
        .await
    }

    /// `PUT /auth/service-accounts/{serviceAccountId}/deactivate` (user action).
    ///
    /// `force` bypasses the policy approver check; it is sent as `{"force":true}`, and no body
    /// is sent without it.
    pub async fn deactivate(
        &self,
        id: &str,
        force: bool,
    ) -> Result<Outcome<ServiceAccount>, ApiError> {
        let body = force.then(|| RequestBody::from(serde_json::json!({ "force": true })));
        let this = *self;
        let target = account(id, "/deactivate", None)?;
        self.change(Method::PUT, &target, body.as_ref(), move || {
            this.check_active(id, false)
        })
        .await
    }

    /// `DELETE /auth/service-accounts/{serviceAccountId}` (user action, no body): archive.
    ///
    /// `force` adds `?force=true` (bypasses the policy approver check); the signed path never
    /// includes the query.
    ///
    /// The result is the account's final state as Dfns returns it. When the answer was lost
    /// and a check found the account gone, there is nothing left to read: the result then
    /// holds only the id and `isActive: false`.
    pub async fn archive(
        &self,
        id: &str,
        force: bool,
    ) -> Result<Outcome<ServiceAccount>, ApiError> {
        let query = force.then(|| "force=true".to_owned());
        let this = *self;
        self.change(Method::DELETE, &account(id, "", query)?, None, move || {
            this.check_archived(id)
        })
        .await
    }

    /// A change to an existing account, reconciled by `check`. Its result is the account as
    /// Dfns answered, or as the check read it when the answer was lost.
    async fn change<F, Fut>(
        &self,
        method: Method,
        target: &RequestTarget,
        body: Option<&RequestBody>,
        check: F,
    ) -> Result<Outcome<ServiceAccount>, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Check<ServiceAccount>, ApiError>>,
    {
        let settled = self
            .client
            .mutate_reconciled(method, target, body, check)
            .await?;
        Ok(match settled {
            Settled::Answered(outcome) => outcome,
            Settled::Reconciled { value, .. } => Outcome::Done(value),
        })
    }

    /// Reconcile a create: an account with the requested name (and externalId, when both
    /// sides carry one) means the create was carried out.
    async fn find_created(
        self,
        request: &CreateServiceAccount,
    ) -> Result<Check<ServiceAccount>, ApiError> {
        let list = self.list().await?;
        let found = list.items.into_iter().find(|a| {
            a.user_info.name == request.name
                && match (&request.external_id, a.external_id()) {
                    (Some(want), Some(have)) => want == have,
                    _ => true,
                }
        });
        Ok(found.map_or(Check::NotApplied, Check::Applied))
    }

    /// Reconcile an update: the account shows every requested field.
    async fn check_updated(
        self,
        id: &str,
        request: &UpdateServiceAccount,
    ) -> Result<Check<ServiceAccount>, ApiError> {
        let now = self.get(id).await?;
        let name_ok = request
            .name
            .as_ref()
            .map_or(true, |n| *n == now.user_info.name);
        // A server that does not show externalId cannot confirm it: send again (an update
        // with the same fields changes nothing more).
        let ext_ok = request
            .external_id
            .as_deref()
            .map_or(true, |e| now.external_id() == Some(e));
        Ok(if name_ok && ext_ok {
            Check::Applied(now)
        } else {
            Check::NotApplied
        })
    }

    /// Reconcile activate / deactivate: `isActive` is as requested.
    async fn check_active(self, id: &str, active: bool) -> Result<Check<ServiceAccount>, ApiError> {
        let now = self.get(id).await?;
        Ok(if now.user_info.is_active == active {
            Check::Applied(now)
        } else {
            Check::NotApplied
        })
    }

    /// Reconcile an archive: the account is gone (404).
    async fn check_archived(self, id: &str) -> Result<Check<ServiceAccount>, ApiError> {
        match self.get(id).await {
            Ok(_) => Ok(Check::NotApplied),
            Err(e) if e.status() == Some(404) => {
                let gone = serde_json::json!({ "userInfo": { "userId": id, "isActive": false } });
                serde_json::from_value(gone)
                    .map(Check::Applied)
                    .map_err(|e| ApiError::InvalidRequest(e.to_string()))
            }
            Err(e) => Err(e),
        }
    }
}

fn target(path: String, query: Option<String>) -> RequestTarget {
    RequestTarget::from_parts(path, query)
}

/// `/auth/service-accounts/{id}{suffix}` with the id percent-encoded as one segment.
fn account(id: &str, suffix: &str, query: Option<String>) -> Result<RequestTarget, ApiError> {
    if id.is_empty() || id == "." || id == ".." {
        return Err(ApiError::InvalidRequest(format!(
            "{id:?} is not a service account id (us-...)"
        )));
    }
    let id = utf8_percent_encode(id, SEGMENT);
    Ok(target(format!("{BASE}/{id}{suffix}"), query))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_one_encoded_segment() {
        let t = account("us-1a2b3-c4d5e-f6g7h8i9j0k1l2", "/activate", None).expect("target");
        assert_eq!(
            t.path(),
            "/auth/service-accounts/us-1a2b3-c4d5e-f6g7h8i9j0k1l2/activate"
        );
        let t = account("../x?y", "", Some("force=true".into())).expect("target");
        assert_eq!(
            t.to_string(),
            "/auth/service-accounts/..%2Fx%3Fy?force=true"
        );
        assert!(account("", "", None).is_err());
        assert!(account("..", "", None).is_err());
    }
}
