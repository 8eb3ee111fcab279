//! Request bodies: the raw bytes (needed to compare with the signed payload) and strict JSON
//! parsing that turns serde errors into 400s naming the problem.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Largest accepted request body (1 MiB); larger bodies get 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The request body exactly as received. A non-empty body must be `application/json`.
#[derive(Debug, Clone)]
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.to_ascii_lowercase());
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            let status = rejection.status();
            let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
                "body_too_large"
            } else {
                "body_unreadable"
            };
            let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!("request body is larger than the {MAX_BODY_BYTES}-byte limit")
            } else {
                format!("request body could not be read: {}", rejection.body_text())
            };
            ApiError::new(status, code, message)
        })?;
        if !bytes.is_empty() {
            let is_json = content_type
                .as_deref()
                .map(|ct| ct.split(';').next().unwrap_or("").trim() == "application/json")
                .unwrap_or(false);
            if !is_json {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    format!(
                        "request body must be sent with Content-Type: application/json (got {})",
                        content_type.as_deref().unwrap_or("no Content-Type")
                    ),
                ));
            }
        }
        Ok(RawBody(bytes))
    }
}

/// Parse `bytes` as the JSON document `what` (named in errors). Unknown fields, wrong types and
/// missing required fields are 400 `invalid_body`; broken JSON is 400 `malformed_json`.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, ApiError> {
    // Syntax first, so that broken JSON is never reported as a schema problem.
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes).map_err(|e| {
        ApiError::bad_request(
            "malformed_json",
            format!("request body is not valid JSON ({what}): {e}"),
        )
    })?;
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request("invalid_body", format!("invalid {what}: {e}")))
}

/// Like [`parse_json`], but an empty body counts as `{}` (endpoints whose body is optional).
pub fn parse_optional_json<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, ApiError> {
    if bytes.is_empty() {
        parse_json(b"{}", what)
    } else {
        parse_json(bytes, what)
    }
}
