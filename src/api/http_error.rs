//! Errors Dfns answers with: the HTTP status, Dfns's error body, and what the status means.

use std::fmt;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

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
    /// The error body as Dfns sent it (at most [`MAX_KEPT_BODY`] bytes), for callers that pass
    /// the answer on unchanged, such as the signing service's proxy.
    pub body: String,
}

/// Longest error body kept whole in [`HttpError::body`].
pub const MAX_KEPT_BODY: usize = 64 * 1024;

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
            body: String::from_utf8_lossy(&body[..body.len().min(MAX_KEPT_BODY)]).into_owned(),
        }
    }

    /// What this status means, in one sentence.
    pub fn advice(&self) -> &'static str {
        match self.status {
            300..=399 => "the API redirected and redirects are not followed",
            400 => {
                "Dfns rejected the request as invalid: check the body and parameters against \
                    the API reference"
            }
            401 => match self.auth_failure() {
                Some(AuthFailure::BadSignature) => {
                    "the user-action signature does not verify with the credential's public key: \
                        the signing key is not the key registered under that credential id"
                }
                Some(AuthFailure::Deactivated) => {
                    "the identity is deactivated: its token and credential stay refused until it \
                        is activated again"
                }
                Some(AuthFailure::TokenExpired) => "the auth token has expired",
                _ => {
                    "the auth token is missing, invalid or expired, or belongs to another region \
                        (api.dfns.io vs api.uae.dfns.io)"
                }
            },
            402 => "this feature is not included in the organization's Dfns plan",
            403 => {
                "the identity lacks a permission for this operation, or its user-action \
                    signature was missing or rejected (e.g. made with the credential and key of \
                    another identity than the token's)"
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

/// Why Dfns refused to authenticate a request (HTTP 401), as far as its answer tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// The user-action signature did not verify with the credential's key.
    BadSignature,
    /// The user or service account is deactivated.
    Deactivated,
    /// The bearer token has expired.
    TokenExpired,
    /// The bearer token is missing, malformed, revoked or from elsewhere.
    TokenInvalid,
}

impl HttpError {
    /// For a 401, which cause Dfns's answer names. Dfns documents no error codes for them, so
    /// this reads where the 401 came from and its message: a 401 from `POST /auth/action`
    /// that speaks of the signature or credential is about the user-action signature; anywhere
    /// else a signature is the token's own (a JWT), so it is about the token.
    pub fn auth_failure(&self) -> Option<AuthFailure> {
        if self.status != 401 {
            return None;
        }
        let m = self.message.to_ascii_lowercase();
        let signing_step = self.target.split('?').next() == Some("/auth/action");
        Some(if m.contains("deactivated") || m.contains("inactive") {
            AuthFailure::Deactivated
        } else if signing_step && (m.contains("signature") || m.contains("credential")) {
            AuthFailure::BadSignature
        } else if m.contains("expired") {
            AuthFailure::TokenExpired
        } else {
            AuthFailure::TokenInvalid
        })
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
}
