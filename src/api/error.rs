//! Errors of the API client, each naming the request and, where possible, the next step.

use std::fmt;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::signer::SignerError;

/// Longest raw error text kept from a non-JSON error body.
const MAX_RAW_MESSAGE: usize = 512;

/// A request Dfns answered with an error status (or a redirect, which is never followed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    /// HTTP status code.
    pub status: u16,
    /// The request's method.
    pub method: Method,
    /// The request's path and query.
    pub target: String,
    /// Dfns's `error.id`, for support tickets.
    pub error_id: Option<String>,
    /// Dfns's message (`error.message`, else `message`, else the raw body).
    pub message: String,
    /// The `X-Request-ID` response header, if any.
    pub request_id: Option<String>,
    /// Extra diagnostics the client adds, e.g. "the token expired on DATE".
    pub hint: Option<String>,
    /// How long the server asked to wait (`Retry-After`), measured when the answer came.
    pub retry_after: Option<Duration>,
}

impl HttpError {
    /// Build from a status and the raw error body (parsed leniently).
    pub fn from_body(status: u16, method: Method, target: String, body: &[u8]) -> Self {
        let (error_id, message) = parse_error_body(status, body);
        Self {
            status,
            method,
            target,
            error_id,
            message,
            request_id: None,
            hint: None,
            retry_after: None,
        }
    }

    /// What to do about this status, in one sentence.
    pub fn advice(&self) -> &'static str {
        match self.status {
            300..=399 => "the API redirected and redirects are not followed: check --api-url",
            400 => {
                "Dfns rejected the request as invalid: check the body and parameters against \
                    the API reference"
            }
            401 => {
                "the auth token is missing, invalid or expired, or belongs to another region \
                    (api.dfns.io vs api.uae.dfns.io): check --auth-token-file / DFNS_AUTH_TOKEN \
                    and --api-url"
            }
            402 => "this feature is not included in the organization's Dfns plan",
            403 => {
                "the identity lacks a permission for this operation, or its user-action \
                    signature was missing or rejected: check its permissions, and that --cred-id \
                    and the signing key belong to the identity whose token is used"
            }
            404 => "not found (or it belongs to another organization): check the id and the path",
            409 => {
                "conflicts with an existing resource (a name or externalId already in use, or \
                    a state change already made)"
            }
            429 => "rate limited by Dfns: wait, then retry with exponential backoff",
            500..=599 => {
                "Dfns failed to handle the request: retry later (a retried mutation is \
                          signed again with a fresh user action)"
            }
            _ => "unexpected status from the Dfns API",
        }
    }
}

impl std::error::Error for HttpError {}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} failed with HTTP {}: {}",
            self.method, self.target, self.status, self.message
        )?;
        match (&self.error_id, &self.request_id) {
            (Some(e), Some(r)) => write!(f, " (error id {e}, request id {r})")?,
            (Some(e), None) => write!(f, " (error id {e})")?,
            (None, Some(r)) => write!(f, " (request id {r})")?,
            (None, None) => {}
        }
        if let Some(r) = self.retry_after {
            write!(f, " (Retry-After {}s)", r.as_secs())?;
        }
        write!(f, "; {}", self.advice())?;
        if let Some(h) = &self.hint {
            write!(f, "; {h}")?;
        }
        Ok(())
    }
}

/// A response body kept for recovery; `Debug` shows only its size (it may hold a token).
#[derive(Clone, PartialEq, Eq)]
pub struct RawBody(pub(crate) String);

impl RawBody {
    /// The body text as received.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RawBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawBody({} bytes)", self.0.len())
    }
}

/// Everything that can go wrong talking to Dfns.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Dfns answered with an error status.
    #[error(transparent)]
    Http(Box<HttpError>),
    /// The request (or the connection attempt) took too long.
    #[error("{method} {target} timed out ({phase} timeout {}s): is {host} reachable? a longer \
             timeout can be configured", after.as_secs_f32())]
    Timeout {
        /// The request's method.
        method: Method,
        /// The request's path and query.
        target: String,
        /// The API host.
        host: String,
        /// `connect` or `request`.
        phase: &'static str,
        /// The limit that was hit.
        after: Duration,
    },
    /// No connection could be made, or it broke (DNS, refused, TLS, reset).
    #[error(
        "{method} {target}: cannot reach the Dfns API at {host}: {source}; check --api-url \
             and the network"
    )]
    Transport {
        /// The request's method.
        method: Method,
        /// The request's path and query.
        target: String,
        /// The API host.
        host: String,
        /// The underlying error.
        source: reqwest::Error,
    },
    /// A step of the user-action flow (`/auth/action/init`, signing, `/auth/action`) failed.
    #[error("user-action signing for {method} {target} failed: {source}")]
    UserAction {
        /// The method of the request being signed.
        method: Method,
        /// The request being signed.
        target: String,
        /// What failed.
        source: Box<ApiError>,
    },
    /// The signer could not sign the challenge.
    #[error(transparent)]
    Signer(#[from] SignerError),
    /// The endpoint needs a user action but the client has no signer.
    #[error(
        "{method} {target} needs a user-action signature but no signer is configured: pass \
             --cred-id and --signing-key (DFNS_CRED_ID, DFNS_SIGNING_KEY)"
    )]
    NoSigner {
        /// The request's method.
        method: Method,
        /// The request's path and query.
        target: String,
    },
    /// A successful response could not be understood.
    #[error("{method} {target} returned HTTP {status} with an unexpected body: {reason}")]
    UnexpectedResponse {
        /// The request's method.
        method: Method,
        /// The request's path and query.
        target: String,
        /// HTTP status.
        status: u16,
        /// What was wrong.
        reason: String,
        /// The body as received, so nothing (e.g. a new account's token) is lost.
        body: RawBody,
    },
    /// The request was refused before sending (bad path or body).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The client could not be configured.
    #[error("cannot configure the Dfns API client: {0}")]
    Config(String),
    /// A mutation may or may not have been carried out (the request was sent, no answer came
    /// back, and the client has no way to check), so it was not sent again.
    #[error(
        "OUTCOME UNKNOWN: {method} {target} may or may not have been carried out: {source}{}; \
         it was not sent again: check the resource before retrying",
        check.as_ref().map(|c| format!(" (checking its state failed too: {c})")).unwrap_or_default()
    )]
    OutcomeUnknown {
        /// The request's method.
        method: Method,
        /// The request's path and query.
        target: String,
        /// Attempts made.
        attempts: u32,
        /// What happened to the last attempt.
        source: Box<ApiError>,
        /// Why reconciliation could not decide, when it was tried.
        check: Option<Box<ApiError>>,
    },
    /// A service-account create was carried out but its response, the only copy of the new
    /// account's access token, was lost. The account exists; its token cannot be recovered.
    #[error(
        "SERVICE ACCOUNT CREATED BUT ITS TOKEN WAS LOST: {name:?} exists (id {account_id}, found \
         by {matched_by} after the create's response was lost: {cause}); Dfns returns the access \
         token only in the create response, so it cannot be recovered: archive the account \
         (`dfns-hsm service-account archive {account_id}`) and create it again"
    )]
    CreatedTokenLost {
        /// The id (`us-...`) of the account that was created.
        account_id: String,
        /// Its name.
        name: String,
        /// How it was identified: `name and externalId`, or `name` alone.
        matched_by: &'static str,
        /// What happened to the attempt whose response was lost.
        cause: Box<ApiError>,
    },
    /// Every allowed attempt failed with a retryable error.
    #[error("{method} {target} failed after {attempts} attempts in {:.1}s ({reason}); last \
             error: {last}", elapsed.as_secs_f32())]
    RetriesExhausted {
        /// The request's method.
        method: Method,
        /// The request's path.
        target: String,
        /// Attempts made.
        attempts: u32,
        /// Time from the first attempt to giving up.
        elapsed: Duration,
        /// Why no further attempt was made.
        reason: crate::api::retry::GiveUpReason,
        /// The last attempt's error.
        last: Box<ApiError>,
    },
}

impl ApiError {
    /// The HTTP error, also when it happened inside the user-action flow.
    pub fn http(&self) -> Option<&HttpError> {
        match self {
            ApiError::Http(e) => Some(e),
            ApiError::UserAction { source, .. } => source.http(),
            ApiError::RetriesExhausted { last, .. } => last.http(),
            _ => None,
        }
    }

    /// The HTTP status, if Dfns answered with an error.
    pub fn status(&self) -> Option<u16> {
        self.http().map(|e| e.status)
    }

    /// Whether this is a timeout (also inside the user-action flow).
    pub fn is_timeout(&self) -> bool {
        match self {
            ApiError::Timeout { .. } => true,
            ApiError::UserAction { source, .. } => source.is_timeout(),
            ApiError::RetriesExhausted { last, .. } => last.is_timeout(),
            _ => false,
        }
    }

    /// Whether no connection could be made or it broke (also inside the user-action flow).
    pub fn is_transport(&self) -> bool {
        match self {
            ApiError::Transport { .. } => true,
            ApiError::UserAction { source, .. } => source.is_transport(),
            ApiError::RetriesExhausted { last, .. } => last.is_transport(),
            _ => false,
        }
    }

    /// Whether a mutation may or may not have been carried out ([`ApiError::OutcomeUnknown`]).
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(self, ApiError::OutcomeUnknown { .. })
    }

    /// The id of a service account that was created but whose token was lost
    /// ([`ApiError::CreatedTokenLost`]).
    pub fn created_without_token(&self) -> Option<&str> {
        match self {
            ApiError::CreatedTokenLost { account_id, .. } => Some(account_id),
            _ => None,
        }
    }
}

impl From<HttpError> for ApiError {
    fn from(e: HttpError) -> Self {
        ApiError::Http(Box::new(e))
    }
}

/// Parse a Dfns error body leniently: `error.message`, then `message`, then the raw text.
///
/// Returns `(error.id, message)`. An empty body yields the status's reason phrase.
pub fn parse_error_body(status: u16, body: &[u8]) -> (Option<String>, String) {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if let Ok(Value::Object(root)) = serde_json::from_str::<Value>(text) {
        let error = root.get("error");
        let id = error
            .and_then(|e| e.get("id"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let message = error
            .and_then(|e| e.get("message"))
            .and_then(Value::as_str)
            .or_else(|| error.and_then(Value::as_str))
            .or_else(|| root.get("message").and_then(Value::as_str));
        if let Some(m) = message {
            return (id, m.to_owned());
        }
        return (id, truncate(text));
    }
    if text.is_empty() {
        let reason = reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("no response body");
        return (None, reason.to_owned());
    }
    (None, truncate(text))
}

fn truncate(text: &str) -> String {
    if text.len() <= MAX_RAW_MESSAGE {
        return text.to_owned();
    }
    let mut end = MAX_RAW_MESSAGE;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_shape() {
        let body = br#"{"error":{"id":"err-1","status":409,"message":"Conflicting transfer","details":{}}}"#;
        assert_eq!(
            parse_error_body(409, body),
            (Some("err-1".into()), "Conflicting transfer".into())
        );
    }

    #[test]
    fn falls_back_to_top_level_message_then_raw_text() {
        assert_eq!(
            parse_error_body(401, br#"{"message":"Not Authorized."}"#),
            (None, "Not Authorized.".into())
        );
        assert_eq!(
            parse_error_body(400, br#"{"error":"bad"}"#),
            (None, "bad".into())
        );
        assert_eq!(
            parse_error_body(400, br#"{"error":{"id":"e"},"x":1}"#),
            (Some("e".into()), r#"{"error":{"id":"e"},"x":1}"#.into())
        );
        assert_eq!(
            parse_error_body(502, b"<html>Bad gateway</html>\n"),
            (None, "<html>Bad gateway</html>".into())
        );
        assert_eq!(
            parse_error_body(503, b""),
            (None, "Service Unavailable".into())
        );
        let long = "é".repeat(400);
        let (_, m) = parse_error_body(500, long.as_bytes());
        assert!(m.ends_with('…') && m.len() <= MAX_RAW_MESSAGE + 3);
    }

    #[test]
    fn display_names_the_request_and_the_next_step() {
        let mut e = HttpError::from_body(
            401,
            Method::GET,
            "/auth/service-accounts".into(),
            br#"{"error":{"id":"x1","message":"Not Authorized."}}"#,
        );
        e.request_id = Some("r-9".into());
        e.hint = Some("the token expired on 2026-01-02T03:04:05Z".into());
        let msg = ApiError::from(e).to_string();
        assert!(msg.starts_with("GET /auth/service-accounts failed with HTTP 401: Not Authorized. (error id x1, request id r-9); "), "{msg}");
        assert!(msg.contains("wrong region") || msg.contains("another region"));
        assert!(msg.ends_with("expired on 2026-01-02T03:04:05Z"));

        for (status, words) in [
            (403, "permission"),
            (404, "not found"),
            (409, "conflicts"),
            (429, "rate limited"),
        ] {
            let e = HttpError::from_body(status, Method::PUT, "/x".into(), b"");
            assert!(e.to_string().contains(words), "{status}: {e}");
        }
    }

    #[test]
    fn status_is_found_inside_the_user_action_flow() {
        let inner = ApiError::from(HttpError::from_body(
            403,
            Method::POST,
            "/auth/action".into(),
            b"{}",
        ));
        let e = ApiError::UserAction {
            method: Method::DELETE,
            target: "/auth/service-accounts/us-1".into(),
            source: Box::new(inner),
        };
        assert_eq!(e.status(), Some(403));
        assert!(e.to_string().starts_with("user-action signing for DELETE /auth/service-accounts/us-1 failed: POST /auth/action failed with HTTP 403"));
    }

    #[test]
    fn raw_bodies_are_not_printed_by_debug() {
        let b = RawBody("{\"accessToken\":\"secret\"}".into());
        assert_eq!(format!("{b:?}"), "RawBody(24 bytes)");
    }
}
