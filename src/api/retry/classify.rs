//! What a failed attempt means for the request it carried (the rules table of [`super`]).

use std::time::Duration;

use reqwest::Method;

use crate::api::error::{ApiError, Phase};

/// What a failed attempt says about the request it carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The request certainly had no effect: it never reached the server, the server refused
    /// it (429, 503), or the user-action flow before it failed. Sending it again is safe.
    NotApplied {
        /// The server's `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
    /// The request may or may not have taken effect: a timeout or a lost connection after it
    /// was sent, or a 500/502/504. A read can be sent again; a mutation must be reconciled.
    Unknown {
        /// The server's `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
    /// A definite answer another attempt would not change (4xx, a signer or configuration
    /// error, an undecodable success, or an error this layer already concluded).
    Final,
}

impl Failure {
    /// The server's `Retry-After`, if it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Failure::NotApplied { retry_after } | Failure::Unknown { retry_after } => *retry_after,
            Failure::Final => None,
        }
    }
}

/// Classify the error of one attempt (see the table in [`super`]).
pub(crate) fn classify(err: &ApiError) -> Failure {
    match err {
        ApiError::Http(e) => {
            let retry_after = e.retry_after;
            match e.status {
                429 | 503 => Failure::NotApplied { retry_after },
                500 | 502 | 504 => Failure::Unknown { retry_after },
                _ => Failure::Final,
            }
        }
        ApiError::Timeout { phase, .. } => match phase {
            Phase::Connect => Failure::NotApplied { retry_after: None },
            Phase::Request => Failure::Unknown { retry_after: None },
        },
        ApiError::Transport { source, .. } => {
            if source.is_builder() {
                // The request could not even be built: nothing was sent, and nothing will be.
                Failure::Final
            } else if source.is_connect() {
                Failure::NotApplied { retry_after: None }
            } else {
                Failure::Unknown { retry_after: None }
            }
        }
        // Challenges and user-action tokens change nothing the caller cares about: whatever
        // happened to them, the request itself was not sent.
        ApiError::UserAction { source, .. } => match classify(source) {
            Failure::Final => Failure::Final,
            other => Failure::NotApplied {
                retry_after: other.retry_after(),
            },
        },
        // The HSM failed to sign (after its own one retry) with a fault that may pass: the
        // request was not sent, so the whole user action can run again.
        ApiError::Signer(e) if e.is_transient() => Failure::NotApplied { retry_after: None },
        ApiError::Signer(_)
        | ApiError::NoSigner { .. }
        | ApiError::UnexpectedResponse { .. }
        | ApiError::InvalidRequest(_)
        | ApiError::Config(_)
        | ApiError::OutcomeUnknown { .. }
        | ApiError::CreatedTokenLost { .. }
        | ApiError::RetriesExhausted { .. } => Failure::Final,
    }
}

/// Whether a method only reads (so sending it twice is harmless).
pub(crate) fn is_safe_method(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A short, secret-free label of an error for logs: `HTTP 503`, `request timeout`, ...
pub(crate) fn label(err: &ApiError) -> String {
    match err {
        ApiError::Http(e) => format!("HTTP {}", e.status),
        ApiError::Timeout { phase, .. } => format!("{phase} timeout"),
        ApiError::Transport { source, .. } if source.is_connect() => "cannot connect".into(),
        ApiError::Transport { .. } => "connection lost".into(),
        ApiError::UserAction { source, .. } => format!("user-action flow: {}", label(source)),
        _ => "error".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::error::GiveUpReason;
    use crate::api::http_error::HttpError;

    fn http(status: u16, retry_after: Option<Duration>) -> ApiError {
        let mut e = HttpError::from_body(status, Method::POST, "/x".into(), b"");
        e.retry_after = retry_after;
        e.into()
    }

    #[test]
    fn refusals_are_safe_to_resend() {
        let r = Some(Duration::from_secs(3));
        assert_eq!(
            classify(&http(429, r)),
            Failure::NotApplied { retry_after: r }
        );
        assert_eq!(
            classify(&http(503, None)),
            Failure::NotApplied { retry_after: None }
        );
    }

    #[test]
    fn server_errors_that_may_follow_the_work_are_unknown() {
        for status in [500, 502, 504] {
            assert_eq!(
                classify(&http(status, None)),
                Failure::Unknown { retry_after: None },
                "{status}"
            );
        }
    }

    #[test]
    fn definite_answers_are_final() {
        for status in [301, 400, 401, 403, 404, 409, 413, 501, 505] {
            assert_eq!(classify(&http(status, None)), Failure::Final, "{status}");
        }
        assert_eq!(
            classify(&ApiError::InvalidRequest("x".into())),
            Failure::Final
        );
        assert_eq!(
            classify(&ApiError::NoSigner {
                method: Method::POST,
                target: "/x".into()
            }),
            Failure::Final
        );
        assert_eq!(
            classify(&ApiError::UnexpectedResponse {
                method: Method::POST,
                target: "/x".into(),
                status: 200,
                reason: "bad".into(),
                body: crate::api::RawBody(String::new()),
            }),
            Failure::Final,
            "a 2xx was done: never resend it"
        );
    }

    #[test]
    fn timeouts_split_by_phase() {
        let t = |phase| ApiError::Timeout {
            method: Method::PUT,
            target: "/x".into(),
            host: "h".into(),
            phase,
            after: Duration::from_secs(1),
        };
        assert_eq!(
            classify(&t(Phase::Connect)),
            Failure::NotApplied { retry_after: None }
        );
        assert_eq!(
            classify(&t(Phase::Request)),
            Failure::Unknown { retry_after: None }
        );
    }

    #[test]
    fn the_user_action_flow_never_leaves_an_outcome_unknown() {
        let wrap = |e: ApiError| ApiError::UserAction {
            method: Method::DELETE,
            target: "/auth/service-accounts/us-1".into(),
            source: Box::new(e),
        };
        let r = Some(Duration::from_secs(1));
        assert_eq!(
            classify(&wrap(http(500, r))),
            Failure::NotApplied { retry_after: r }
        );
        assert_eq!(
            classify(&wrap(http(429, None))),
            Failure::NotApplied { retry_after: None }
        );
        assert_eq!(classify(&wrap(http(403, None))), Failure::Final);
        assert_eq!(classify(&wrap(http(400, None))), Failure::Final);
    }

    #[test]
    fn concluded_errors_are_final() {
        let e = ApiError::OutcomeUnknown {
            method: Method::POST,
            target: "/x".into(),
            attempts: 1,
            source: Box::new(http(500, None)),
            check: None,
        };
        assert_eq!(classify(&e), Failure::Final);
        let e = ApiError::RetriesExhausted {
            method: Method::GET,
            target: "/x".into(),
            attempts: 3,
            elapsed: Duration::from_secs(1),
            reason: GiveUpReason::Attempts,
            last: Box::new(http(503, None)),
        };
        assert_eq!(classify(&e), Failure::Final);
        assert_eq!(e.status(), Some(503), "the last status stays visible");
    }

    #[test]
    fn safe_methods() {
        assert!(is_safe_method(&Method::GET));
        assert!(is_safe_method(&Method::HEAD));
        assert!(!is_safe_method(&Method::POST));
        assert!(!is_safe_method(&Method::PUT));
        assert!(!is_safe_method(&Method::DELETE));
    }
}
