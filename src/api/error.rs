//! Errors of the API client, each naming the request and what is known of its fate.
//!
//! They state facts (what happened, to which request or account); what to type next is the
//! caller's business (the CLI adds its flags in `CliError::hint`).

use std::fmt;
use std::time::Duration;

use reqwest::Method;

use super::http_error::HttpError;
use crate::signer::SignerError;

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
        /// Which limit was hit: connecting, or the whole request.
        phase: Phase,
        /// The limit that was hit.
        after: Duration,
    },
    /// No connection could be made, or it broke (DNS, refused, TLS, reset).
    #[error(
        "{method} {target}: cannot reach the Dfns API at {host}: {}",
        causes(source)
    )]
    Transport {
        /// The request's method.
        method: Method,
        /// The request's path and query.
        target: String,
        /// The API's `host:port`.
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
    #[error("{method} {target} needs a user-action signature but no signer is configured")]
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
         token only in the create response, so it cannot be recovered: archive account \
         {account_id} and create it again"
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
        reason: GiveUpReason,
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

/// An error and its causes, outermost first: reqwest's own message ("error sending request")
/// says nothing of why; the innermost cause ("Connection refused") does.
fn causes(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut next = std::error::Error::source(e);
    while let Some(cause) = next {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    out
}

/// Which limit a request that timed out hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Establishing the connection (TCP + TLS): the request was not sent.
    Connect,
    /// The request itself, after it was sent: the server may have received it.
    Request,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Connect => "connect",
            Phase::Request => "request",
        })
    }
}

/// Why a call stopped retrying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GiveUpReason {
    /// `max_attempts` were made.
    Attempts,
    /// The next attempt would start after the deadline.
    Deadline,
    /// The server asked for a longer wait than `max_retry_after`.
    RetryAfterTooLong(Duration),
}

impl fmt::Display for GiveUpReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GiveUpReason::Attempts => f.write_str("no attempts left"),
            GiveUpReason::Deadline => f.write_str("the retry deadline would pass"),
            GiveUpReason::RetryAfterTooLong(d) => write!(
                f,
                "the server asked to retry after {}s, longer than the client waits",
                d.as_secs()
            ),
        }
    }
}

impl From<HttpError> for ApiError {
    fn from(e: HttpError) -> Self {
        ApiError::Http(Box::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
