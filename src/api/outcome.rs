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
///
/// `Debug` shows the body's size only: a generic call may return a secret (e.g. the
/// `accessToken` of a new service account).
#[derive(Clone, PartialEq)]
pub struct ApiResponse {
    /// HTTP status (2xx).
    pub status: u16,
    /// The body: its JSON, `Null` when empty, or a JSON string holding non-JSON text.
    pub body: Value,
    /// The `X-Request-ID` response header, if any.
    pub request_id: Option<String>,
}

impl std::fmt::Debug for ApiResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiResponse")
            .field("status", &self.status)
            .field(
                "body",
                &format_args!("<{} bytes of JSON>", self.body.to_string().len()),
            )
            .field("request_id", &self.request_id)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_body() {
        let r = ApiResponse {
            status: 200,
            body: serde_json::json!({"accessToken": "secret"}),
            request_id: None,
        };
        let dbg = format!("{:?}", Outcome::Done(r));
        assert!(!dbg.contains("secret"), "{dbg}");
        assert!(dbg.contains("status: 200"));
    }

    #[test]
    fn map_and_done() {
        let o: Outcome<u8> = Outcome::Done(1);
        assert_eq!(o.map(|x| x + 1).done(), Some(2));
        let p: Outcome<u8> = Outcome::PendingApproval(Value::Null);
        assert!(p.is_pending() && p.done().is_none());
    }
}
