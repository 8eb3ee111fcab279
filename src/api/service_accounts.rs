//! Typed service-account calls (`/auth/service-accounts`).
//!
//! Reads return the value; mutations return an [`Outcome`], since a Dfns policy may hold them
//! for approval (HTTP 202). Bodies follow the module's empty-body rule: activate, archive and
//! an unforced deactivate send no body and sign the payload `""`.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::Method;

use super::body::RequestBody;
use super::client::DfnsClient;
use super::error::ApiError;
use super::outcome::Outcome;
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

/// Service-account calls of a [`DfnsClient`].
#[derive(Debug, Clone, Copy)]
pub struct ServiceAccounts<'a> {
    client: &'a DfnsClient,
}

impl<'a> ServiceAccounts<'a> {
    pub(crate) fn new(client: &'a DfnsClient) -> Self {
        Self { client }
    }

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
        self.client
            .mutate(Method::POST, &target(BASE.to_owned(), None), Some(&body))
            .await
    }

    /// `PUT /auth/service-accounts/{serviceAccountId}` (user action).
    pub async fn update(
        &self,
        id: &str,
        request: &UpdateServiceAccount,
    ) -> Result<Outcome<ServiceAccount>, ApiError> {
        let body = RequestBody::json(request).map_err(ApiError::InvalidRequest)?;
        self.client
            .mutate(Method::PUT, &account(id, "", None)?, Some(&body))
            .await
    }

    /// `PUT /auth/service-accounts/{serviceAccountId}/activate` (user action, no body).
    pub async fn activate(&self, id: &str) -> Result<Outcome<ServiceAccount>, ApiError> {
        self.client
            .mutate(Method::PUT, &account(id, "/activate", None)?, None)
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
        self.client
            .mutate(
                Method::PUT,
                &account(id, "/deactivate", None)?,
                body.as_ref(),
            )
            .await
    }

    /// `DELETE /auth/service-accounts/{serviceAccountId}` (user action, no body): archive.
    ///
    /// `force` adds `?force=true` (bypasses the policy approver check); the signed path never
    /// includes the query.
    pub async fn archive(
        &self,
        id: &str,
        force: bool,
    ) -> Result<Outcome<ServiceAccount>, ApiError> {
        let query = force.then(|| "force=true".to_owned());
        self.client
            .mutate(Method::DELETE, &account(id, "", query)?, None)
            .await
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
