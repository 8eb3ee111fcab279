//! The user-action flow: challenge, signature, one-time token.
//!
//! 1. `POST /auth/action/init` with the request's method, path (no query) and exact payload;
//! 2. the [`Signer`] signs the returned challenge;
//! 3. `POST /auth/action` trades the assertion for a `userAction` token;
//! 4. the caller sends the real request with `X-DFNS-USERACTION: <token>`.
//!
//! The token is single use: each attempt of a mutation runs the whole flow again.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::body::RequestBody;
use super::error::ApiError;
use super::target::RequestTarget;
use super::transport::Transport;
use super::user_action_token::UserActionToken;
use crate::signer::{sign_audited, AuditLog, FirstFactor, Signer, UserActionChallenge};

/// Path of step 1.
pub const INIT_PATH: &str = "/auth/action/init";
/// Path of step 3.
pub const ACTION_PATH: &str = "/auth/action";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InitBody<'a> {
    user_action_payload: &'a str,
    user_action_http_method: &'a str,
    user_action_http_path: &'a str,
    user_action_server_kind: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SignatureBody<'a> {
    challenge_identifier: &'a str,
    first_factor: &'a FirstFactor,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignatureResponse {
    user_action: String,
}

/// Step 1: ask for a challenge for `method path` with `payload` (`""` when there is no body).
pub(crate) async fn init(
    transport: &Transport,
    method: &Method,
    path: &str,
    payload: &str,
) -> Result<UserActionChallenge, ApiError> {
    let body = RequestBody::json(&InitBody {
        user_action_payload: payload,
        user_action_http_method: method.as_str(),
        user_action_http_path: path,
        user_action_server_kind: "Api",
    })
    .map_err(ApiError::InvalidRequest)?;
    let target = RequestTarget::from_parts(INIT_PATH.to_owned(), None);
    let resp = transport
        .send_expect_done(&Method::POST, &target, Some(&body))
        .await?;
    resp.decode(&Method::POST, &target)
}

/// Step 3: trade a signed assertion for a one-time token.
pub(crate) async fn complete(
    transport: &Transport,
    challenge_identifier: &str,
    first_factor: &FirstFactor,
) -> Result<UserActionToken, ApiError> {
    let body = RequestBody::json(&SignatureBody {
        challenge_identifier,
        first_factor,
    })
    .map_err(ApiError::InvalidRequest)?;
    let target = RequestTarget::from_parts(ACTION_PATH.to_owned(), None);
    let resp = transport
        .send_expect_done(&Method::POST, &target, Some(&body))
        .await?;
    let parsed: SignatureResponse = resp.decode(&Method::POST, &target)?;
    UserActionToken::new(&parsed.user_action).map_err(|reason| ApiError::UnexpectedResponse {
        method: Method::POST,
        target: ACTION_PATH.to_owned(),
        status: resp.status,
        reason,
        body: super::error::RawBody(String::new()),
    })
}

/// Steps 1 to 3 for one request; errors are wrapped as [`ApiError::UserAction`].
pub(crate) async fn obtain(
    transport: &Transport,
    signer: &dyn Signer,
    audit: Option<&AuditLog>,
    method: &Method,
    target: &RequestTarget,
    body: Option<&RequestBody>,
) -> Result<UserActionToken, ApiError> {
    let wrap = |e: ApiError| ApiError::UserAction {
        method: method.clone(),
        target: target.to_string(),
        source: Box::new(e),
    };
    let payload = body.map_or("", RequestBody::as_str);
    let challenge = init(transport, method, target.path(), payload)
        .await
        .map_err(wrap)?;
    // No signature leaves without its audit line.
    let first_factor = sign_audited(
        signer,
        &challenge,
        audit,
        Some((method.as_str(), target.path())),
    )
    .await
    .map_err(|e| wrap(ApiError::Config(e.to_string())))?
    .map_err(|e| wrap(ApiError::Signer(e)))?;
    complete(transport, &challenge.challenge_identifier, &first_factor)
        .await
        .map_err(wrap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_body_has_the_spec_field_names() {
        let body = RequestBody::json(&InitBody {
            user_action_payload: "{\"a\":1}",
            user_action_http_method: "PUT",
            user_action_http_path: "/auth/service-accounts/us-1",
            user_action_server_kind: "Api",
        })
        .expect("json");
        assert_eq!(
            body.as_str(),
            r#"{"userActionPayload":"{\"a\":1}","userActionHttpMethod":"PUT","userActionHttpPath":"/auth/service-accounts/us-1","userActionServerKind":"Api"}"#
        );
    }
}
