//! The one error type every handler returns, rendered as Dfns's error envelope.
//!
//! Body: `{"error":{"id":"<id>","status":<int>,"message":"<text>","details":{"code":"<code>"}}}`.
//! `id` is unique per occurrence (a decimal number, like the ids Dfns support asks for) and is
//! logged to stderr together with `code`, so a failing test can be matched to the log line.
//! `details.code` is a stable snake_case name of the failure kind; tests match on it.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Source of per-occurrence error ids; seeded from the clock so ids differ across restarts.
static NEXT_ERROR_ID: AtomicU64 = AtomicU64::new(0);

fn next_error_id() -> String {
    let n = NEXT_ERROR_ID.fetch_add(1, Ordering::Relaxed);
    let base = crate::clock::now_secs().saturating_mul(1_000_000);
    format!("{}", base.saturating_add(n))
}

/// A failed request: HTTP status, stable code and a message that names the problem.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status to answer with.
    pub status: StatusCode,
    /// Stable machine-readable name of the failure (`details.code`).
    pub code: &'static str,
    /// Human text naming the object and the problem.
    pub message: String,
}

impl ApiError {
    /// Build an error from its parts.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400: the request is malformed or fails validation.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401: the caller is not authenticated.
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// 403: authenticated but not allowed (missing permission or user-action signature).
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    /// 404: no such route or object.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 409: a uniqueness constraint would be broken.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 500: the emulator itself failed (e.g. it could not write its state).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let id = next_error_id();
        if self.status.is_server_error() {
            tracing::error!(error_id = %id, code = self.code, status = self.status.as_u16(), "{}", self.message);
        } else {
            tracing::info!(error_id = %id, code = self.code, status = self.status.as_u16(), "{}", self.message);
        }
        let body = json!({
            "error": {
                "id": id,
                "status": self.status.as_u16(),
                "message": self.message,
                "details": { "code": self.code },
            }
        });
        (self.status, Json(body)).into_response()
    }
}
