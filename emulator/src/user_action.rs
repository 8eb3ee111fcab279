//! User-action signing: `POST /auth/action/init`, `POST /auth/action`, and the check every
//! mutating endpoint runs on its `X-DFNS-USERACTION` header.
//!
//! Payload rule (see [`payload_matches`]): the body matches the signed `userActionPayload` when
//! the bytes are identical, or, failing that, when both are non-empty and parse as equal JSON
//! values (object key order and insignificant whitespace do not matter). An empty body matches
//! only the empty payload `""`, and the payload `""` matches only an empty body. Every failure of
//! the user-action check (missing, invalid, expired, replayed, other caller, other method, path
//! or payload) is HTTP 403, as Dfns documents for "user action signature is missing or invalid".

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::{HeaderMap, Method};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::app::AppState;
use crate::auth::Caller;
use crate::body::{parse_json, RawBody};
use crate::clock;
use crate::error::ApiError;
use crate::ids;
use crate::public_key::PublicKey;
use crate::sessions::{Binding, IssuedChallenge, IssuedUserAction};
use crate::token::{Expiring, TokenError};
use crate::verify::SignatureError;

/// Header carrying the user-action token on mutating requests.
pub const USER_ACTION_HEADER: &str = "x-dfns-useraction";

/// `purpose` of challenge identifiers and of user-action tokens.
const CHALLENGE_PURPOSE: &str = "challenge";
const USER_ACTION_PURPOSE: &str = "userAction";

/// Claims of a `challengeIdentifier` or a user-action token.
#[derive(Debug, Serialize, Deserialize)]
struct SessionClaims {
    jti: String,
    sub: String,
    exp: u64,
    purpose: String,
}

impl Expiring for SessionClaims {
    fn exp(&self) -> u64 {
        self.exp
    }
}

/// JWT `exp` (seconds, rounded up) for an expiry in milliseconds.
fn exp_secs(expires_at_ms: u64) -> u64 {
    expires_at_ms.div_ceil(1000)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct InitBody {
    user_action_payload: String,
    user_action_http_method: String,
    user_action_http_path: String,
    #[serde(default)]
    user_action_server_kind: Option<ServerKind>,
}

#[derive(Debug, Deserialize)]
enum ServerKind {
    Api,
    Staff,
}

/// `POST /auth/action/init`: issue a challenge bound to the caller and the request to sign.
pub async fn init(
    State(app): State<AppState>,
    caller: Caller,
    RawBody(body): RawBody,
) -> Result<Json<Value>, ApiError> {
    let req: InitBody = parse_json(&body, "CreateUserActionChallengeBody")?;
    if req.user_action_http_method.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_body",
            "userActionHttpMethod must not be empty",
        ));
    }
    if !req.user_action_http_path.starts_with('/') {
        return Err(ApiError::bad_request(
            "invalid_body",
            "userActionHttpPath must be an absolute path such as /auth/service-accounts",
        ));
    }
    if let Some(ServerKind::Staff) = req.user_action_server_kind {
        return Err(ApiError::bad_request(
            "invalid_body",
            "userActionServerKind Staff is not served by the emulator; use Api or omit it",
        ));
    }
    let now_ms = clock::now_millis();
    let expires_at_ms = now_ms.saturating_add(app.settings.challenge_ttl_ms);
    let id = ids::new_id("ch");
    let challenge = URL_SAFE_NO_PAD.encode(&id);
    let identifier = app
        .key
        .mint(&SessionClaims {
            jti: id.clone(),
            sub: caller.user_id.clone(),
            exp: exp_secs(expires_at_ms),
            purpose: CHALLENGE_PURPOSE.into(),
        })
        .map_err(|_| ApiError::internal("could not mint a challenge identifier"))?;
    let binding = Binding {
        user_id: caller.user_id.clone(),
        token_id: caller.token_id.clone(),
        method: req.user_action_http_method.to_ascii_uppercase(),
        path: req.user_action_http_path,
        payload: req.user_action_payload,
    };
    tracing::debug!(user = %caller.user_id, method = %binding.method, path = %binding.path, "challenge issued");
    app.lock().sessions.add_challenge(
        id,
        IssuedChallenge {
            challenge: challenge.clone(),
            binding,
            expires_at_ms,
            used: false,
        },
        now_ms,
    );
    Ok(Json(json!({
        "challenge": challenge,
        "challengeIdentifier": identifier,
        "allowCredentials": {
            "key": [{ "type": "public-key", "id": caller.cred_id }],
            "webauthn": [],
        },
        "supportedCredentialKinds": [
            { "kind": "Key", "factor": "first", "requiresSecondFactor": false }
        ],
        "userVerification": "required",
        "attestation": "none",
        "externalAuthenticationUrl": "",
    })))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CompleteBody {
    challenge_identifier: String,
    first_factor: Value,
    #[serde(default)]
    second_factor: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct KeyFactor {
    #[allow(dead_code)]
    kind: String,
    credential_assertion: KeyAssertion,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct KeyAssertion {
    cred_id: String,
    client_data: String,
    signature: String,
    #[serde(default)]
    algorithm: Option<String>,
}

/// base64url, with or without `=` padding (the official SDKs strip it; some scripts keep it).
fn decode_b64url(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}

fn challenge_error(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::bad_request(code, message)
}

/// `POST /auth/action`: verify the Key assertion over the challenge and issue a user-action
/// token bound to the same caller, method, path and payload.
pub async fn complete(
    State(app): State<AppState>,
    caller: Caller,
    RawBody(body): RawBody,
) -> Result<Json<Value>, ApiError> {
    let req: CompleteBody = parse_json(&body, "CreateUserActionSignatureBody")?;
    if req.second_factor.is_some() {
        return Err(ApiError::bad_request(
            "unsupported_factor",
            "secondFactor is not supported by the emulator; send firstFactor only",
        ));
    }
    let kind = req
        .first_factor
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("");
    if kind != "Key" {
        return Err(ApiError::bad_request(
            "unsupported_factor",
            format!("firstFactor.kind must be \"Key\" (the emulator verifies Key credentials only), got {kind:?}"),
        ));
    }
    let factor: KeyFactor = serde_json::from_value(req.first_factor)
        .map_err(|e| ApiError::bad_request("invalid_body", format!("invalid firstFactor: {e}")))?;
    let assertion = factor.credential_assertion;
    for (name, value) in [
        ("credId", &assertion.cred_id),
        ("clientData", &assertion.client_data),
        ("signature", &assertion.signature),
    ] {
        if value.is_empty() {
            return Err(ApiError::bad_request(
                "invalid_body",
                format!("firstFactor.credentialAssertion.{name} must not be empty"),
            ));
        }
    }
    if assertion.algorithm.as_deref() == Some("") {
        return Err(ApiError::bad_request(
            "invalid_body",
            "firstFactor.credentialAssertion.algorithm must not be empty; omit it instead",
        ));
    }

    let now_ms = clock::now_millis();
    let claims: SessionClaims = app
        .key
        .verify(&req.challenge_identifier, now_ms / 1000)
        .map_err(|e| match e {
            TokenError::Expired => challenge_error(
                "challenge_expired",
                "the challenge has expired; request a new one from /auth/action/init",
            ),
            TokenError::Invalid(why) => challenge_error(
                "challenge_invalid",
                format!("Challenge token is not valid ({why})"),
            ),
        })?;
    if claims.purpose != CHALLENGE_PURPOSE {
        return Err(challenge_error(
            "challenge_invalid",
            "challengeIdentifier is not a challenge identifier",
        ));
    }

    // Take what we need from the issued challenge and burn it, all under one lock.
    let (challenge, binding) = {
        let mut inner = app.lock();
        let issued = inner
            .sessions
            .challenges
            .get_mut(&claims.jti)
            .ok_or_else(|| {
                challenge_error(
                    "challenge_invalid",
                    "unknown challenge (was the emulator restarted?); request a new one",
                )
            })?;
        if issued.binding.user_id != caller.user_id || issued.binding.token_id != caller.token_id {
            return Err(challenge_error(
                "challenge_wrong_caller",
                "the challenge was issued to another user or token",
            ));
        }
        if issued.used {
            return Err(challenge_error(
                "challenge_used",
                "the challenge has already been used; request a new one",
            ));
        }
        issued.used = true;
        if issued.expires_at_ms <= now_ms {
            return Err(challenge_error(
                "challenge_expired",
                "the challenge has expired; request a new one from /auth/action/init",
            ));
        }
        (issued.challenge.clone(), issued.binding.clone())
    };

    if assertion.cred_id != caller.cred_id {
        return Err(ApiError::unauthorized(
            "credential_not_allowed",
            format!(
                "credential {:?} is not an active Key credential of user {}",
                assertion.cred_id, caller.user_id
            ),
        ));
    }
    let client_data = decode_b64url(&assertion.client_data).ok_or_else(|| {
        ApiError::bad_request("client_data_invalid", "clientData is not base64url")
    })?;
    check_client_data(&client_data, &challenge)?;
    let signature = decode_b64url(&assertion.signature)
        .ok_or_else(|| ApiError::bad_request("signature_invalid", "signature is not base64url"))?;
    let key = PublicKey::from_pem(&caller.public_key)
        .map_err(|e| ApiError::internal(format!("stored credential key does not parse: {e}")))?;
    key.verify(&client_data, &signature).map_err(|e| {
        let code = match e {
            SignatureError::Malformed(_) => "signature_malformed",
            SignatureError::Mismatch => "signature_invalid",
        };
        ApiError::unauthorized(
            code,
            format!("Unable to verify signature: {e} ({})", key.algorithm()),
        )
    })?;

    let ua_id = ids::new_id("ua");
    let expires_at_ms = now_ms.saturating_add(app.settings.user_action_ttl_ms);
    let token = app
        .key
        .mint(&SessionClaims {
            jti: ua_id.clone(),
            sub: caller.user_id.clone(),
            exp: exp_secs(expires_at_ms),
            purpose: USER_ACTION_PURPOSE.into(),
        })
        .map_err(|_| ApiError::internal("could not mint a user-action token"))?;
    app.lock().sessions.add_user_action(
        ua_id,
        IssuedUserAction {
            binding,
            expires_at_ms,
            used: false,
        },
        now_ms,
    );
    tracing::debug!(user = %caller.user_id, alg = key.algorithm(), "user action signed");
    Ok(Json(json!({ "userAction": token })))
}

/// clientData must be a JSON object with `type` `key.get` and the issued `challenge`; other keys
/// (`origin`, `crossOrigin`) and any key order are accepted.
fn check_client_data(bytes: &[u8], challenge: &str) -> Result<(), ApiError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request(
            "client_data_invalid",
            format!("clientData does not decode to JSON: {e}"),
        )
    })?;
    let obj = value.as_object().ok_or_else(|| {
        ApiError::bad_request("client_data_invalid", "clientData must be a JSON object")
    })?;
    match obj.get("type").and_then(Value::as_str) {
        Some("key.get") => {}
        other => {
            return Err(ApiError::bad_request(
                "client_data_invalid",
                format!("clientData.type must be \"key.get\", got {other:?}"),
            ))
        }
    }
    if obj.get("challenge").and_then(Value::as_str) != Some(challenge) {
        return Err(ApiError::bad_request(
            "client_data_challenge_mismatch",
            "clientData.challenge is not the challenge issued for this challengeIdentifier",
        ));
    }
    Ok(())
}

/// Whether the request body matches the signed payload; see the module docs for the rule.
pub fn payload_matches(signed: &str, body: &[u8]) -> bool {
    if signed.as_bytes() == body {
        return true;
    }
    if signed.is_empty() || body.is_empty() {
        return false;
    }
    match (
        serde_json::from_str::<Value>(signed),
        serde_json::from_slice::<Value>(body),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn denied(code: &'static str, detail: impl std::fmt::Display) -> ApiError {
    ApiError::forbidden(
        code,
        format!("user action signature is missing or invalid: {detail}"),
    )
}

/// Check and consume the request's user-action token. `path` excludes the query string.
pub fn require(
    app: &AppState,
    caller: &Caller,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), ApiError> {
    let token = headers
        .get(USER_ACTION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            denied(
                "user_action_missing",
                "the X-DFNS-USERACTION header is missing; sign the request via /auth/action/init and /auth/action",
            )
        })?;
    let now_ms = clock::now_millis();
    let claims: SessionClaims = app.key.verify(token, now_ms / 1000).map_err(|e| match e {
        TokenError::Expired => denied("user_action_expired", "the user-action token has expired"),
        TokenError::Invalid(why) => denied("user_action_invalid", why),
    })?;
    if claims.purpose != USER_ACTION_PURPOSE {
        return Err(denied(
            "user_action_invalid",
            "the X-DFNS-USERACTION value is not a user-action token",
        ));
    }
    let binding = {
        let mut inner = app.lock();
        let issued = inner
            .sessions
            .user_actions
            .get_mut(&claims.jti)
            .ok_or_else(|| {
                denied(
                    "user_action_invalid",
                    "unknown user-action token (was the emulator restarted?)",
                )
            })?;
        if issued.used {
            return Err(denied(
                "user_action_replayed",
                "user action has already been used; sign the request again",
            ));
        }
        issued.used = true;
        if issued.expires_at_ms <= now_ms {
            return Err(denied(
                "user_action_expired",
                "the user-action token has expired",
            ));
        }
        issued.binding.clone()
    };
    if binding.user_id != caller.user_id || binding.token_id != caller.token_id {
        return Err(denied(
            "user_action_wrong_caller",
            "the user-action token was issued to another user or token",
        ));
    }
    if binding.method != method.as_str() {
        return Err(denied(
            "user_action_wrong_method",
            format!(
                "signed method {} does not match request method {method}",
                binding.method
            ),
        ));
    }
    if binding.path != path {
        return Err(denied(
            "user_action_wrong_path",
            format!(
                "signed path {:?} does not match request path {path:?} (sign the path without the query string)",
                binding.path
            ),
        ));
    }
    if !payload_matches(&binding.payload, body) {
        return Err(denied(
            "user_action_payload_mismatch",
            "the request body does not match the signed userActionPayload (sign the exact body bytes; an empty body signs \"\")",
        ));
    }
    Ok(())
}

/// A mutating request that passed authentication and the user-action check: the caller and the
/// exact body bytes. Extracting it consumes the request's user-action token.
pub struct Signed {
    /// The authenticated caller.
    pub caller: Caller,
    /// The body exactly as received (it matched the signed payload).
    pub body: Bytes,
}

impl FromRequest<AppState> for Signed {
    type Rejection = ApiError;

    async fn from_request(req: Request, app: &AppState) -> Result<Self, ApiError> {
        let (mut parts, body) = req.into_parts();
        let caller = Caller::from_request_parts(&mut parts, app).await?;
        let method = parts.method.clone();
        let path = parts.uri.path().to_owned();
        let headers = parts.headers.clone();
        let RawBody(bytes) = RawBody::from_request(Request::from_parts(parts, body), app).await?;
        require(app, &caller, &method, &path, &headers, &bytes)?;
        Ok(Signed {
            caller,
            body: bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_rule() {
        assert!(payload_matches("", b""));
        assert!(payload_matches("{}", b"{}"));
        assert!(payload_matches(
            r#"{"a":1,"b":2}"#,
            br#"{ "b": 2, "a": 1 }"#
        ));
        assert!(!payload_matches("", b"{}"));
        assert!(!payload_matches("{}", b""));
        assert!(!payload_matches(r#"{"a":1}"#, br#"{"a":2}"#));
        assert!(!payload_matches("not json", b"not  json"));
    }

    #[test]
    fn padded_and_unpadded_base64url() {
        assert_eq!(decode_b64url("YQ"), Some(b"a".to_vec()));
        assert_eq!(decode_b64url("YQ=="), Some(b"a".to_vec()));
        assert_eq!(decode_b64url("Y+Q"), None);
    }

    #[test]
    fn client_data_any_order_and_extra_keys() {
        assert!(check_client_data(br#"{"type":"key.get","challenge":"c"}"#, "c").is_ok());
        assert!(check_client_data(
            br#"{"challenge":"c","crossOrigin":false,"origin":"https://app.dfns.io","type":"key.get"}"#,
            "c"
        )
        .is_ok());
        assert!(check_client_data(br#"{"challenge":"c","type":"key.create"}"#, "c").is_err());
        assert!(check_client_data(br#"{"challenge":"d","type":"key.get"}"#, "c").is_err());
        assert!(check_client_data(b"[]", "c").is_err());
    }
}
