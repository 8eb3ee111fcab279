//! The result of a request Dfns accepted: done, or waiting for a policy approval.

use serde_json::Value;

/// What a successful request produced.
///
/// HTTP 202 means a Dfns policy requires an approval before the action runs: the request was
/// accepted, not refused, so it is an outcome and not an [`ApiError`](super::ApiError).
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<T> {
    /// The action completed (HTTP 200/201/204).
    Done(T),
    /// A policy approval is pending (HTTP 202); the body describes it.
    PendingApproval(Value),
}

impl<T> Outcome<T> {
    /// The result if the action completed.
    pub fn done(self) -> Option<T> {
        match self {
            Outcome::Done(t) => Some(t),
            Outcome::PendingApproval(_) => None,
        }
    }

    /// Whether a policy approval is pending.
    pub fn is_pending(&self) -> bool {
        matches!(self, Outcome::PendingApproval(_))
    }

    /// Transform the completed result.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Outcome<U> {
        match self {
            Outcome::Done(t) => Outcome::Done(f(t)),
            Outcome::PendingApproval(v) => Outcome::PendingApproval(v),
        }
    }
}

/// A successful response of a generic [`call`](super::DfnsClient::call).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    /// HTTP status (2xx).
    pub status: u16,
    /// The body: its JSON, `Null` when empty, or a JSON string holding non-JSON text.
    pub body: Value,
    /// The `X-Request-ID` response header, if any.
    pub request_id: Option<String>,
}
