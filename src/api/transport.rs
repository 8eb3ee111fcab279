//! HTTP send: headers, timeouts, bounded response bodies and status classification.
//!
//! One `reqwest::Client` (one connection pool) per [`Transport`]. Every request carries
//! `Authorization: Bearer` (marked sensitive so it never shows in logs) and the client's
//! `User-Agent`; `Content-Type: application/json` only when there is a body. Redirects are not
//! followed, so the token and a signed request never go anywhere but the configured API, and
//! loopback traffic (the emulator) never goes through a proxy ([`http_client`]).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::auth_token::AuthToken;
use super::base_url::ApiUrl;
use super::body::RequestBody;
use super::error::{ApiError, Phase, RawBody};
use super::http_error::HttpError;
use super::jwt::format_unix_time;
use super::outcome::{ApiResponse, Outcome};
use super::retry::{parse_retry_after, Counters};
use super::target::RequestTarget;
use super::user_action_token::UserActionToken;

/// The user-action header (the spec's `userActionSignature` security scheme).
pub const USER_ACTION_HEADER: &str = "x-dfns-useraction";
/// Responses larger than this are refused (the Go SDK uses the same cap).
const MAX_RESPONSE_BYTES: usize = 10 * 1024 * 1024;

/// A response as received.
#[derive(Clone)]
pub(crate) struct RawResponse {
    pub status: u16,
    /// Wiped when dropped: a create's answer holds the new account's token.
    pub body: zeroize::Zeroizing<Vec<u8>>,
    pub request_id: Option<String>,
    /// `Retry-After`, as a wait from the moment the response arrived.
    pub retry_after: Option<Duration>,
}

impl RawResponse {
    /// The body as JSON: `Null` when empty, a JSON string when it is not JSON.
    pub fn json_or_text(&self) -> Value {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Value::Null;
        }
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&self.body).into_owned()))
    }

    /// The answer of a generic call: status, body as JSON (or text), request id.
    pub fn into_api_response(self) -> ApiResponse {
        ApiResponse {
            status: self.status,
            body: self.json_or_text(),
            request_id: self.request_id,
        }
    }

    /// Decode a typed body, keeping the raw text in the error so nothing is lost.
    pub fn decode<T: serde::de::DeserializeOwned>(
        &self,
        method: &Method,
        target: &RequestTarget,
    ) -> Result<T, ApiError> {
        serde_json::from_slice(&self.body).map_err(|e| ApiError::UnexpectedResponse {
            method: method.clone(),
            target: target.to_string(),
            status: self.status,
            reason: e.to_string(),
            body: RawBody(String::from_utf8_lossy(&self.body).into_owned()),
        })
    }
}

/// The HTTP client for `base`, with the transport rules every request to a Dfns API follows:
/// no redirects, https only unless the host is loopback, and no proxy for a loopback host
/// (proxy variables such as `HTTP_PROXY` are honoured for a remote API, where corporate
/// networks need them, but a proxy must never see loopback traffic and its bearer token).
pub(crate) fn http_client(
    base: &ApiUrl,
    user_agent: &str,
    connect_timeout: Duration,
    request_timeout: Duration,
) -> Result<reqwest::Client, ApiError> {
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    let mut builder = reqwest::Client::builder()
        .user_agent(user_agent)
        .default_headers(headers)
        .connect_timeout(connect_timeout)
        .timeout(request_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .https_only(base.is_https());
    if base.is_loopback() {
        builder = builder.no_proxy();
    }
    builder.build().map_err(|e| ApiError::Config(e.to_string()))
}

/// Sends requests to one Dfns API with one token.
#[derive(Clone)]
pub(crate) struct Transport {
    http: reqwest::Client,
    base: ApiUrl,
    token: AuthToken,
    connect_timeout: Duration,
    request_timeout: Duration,
    counters: Arc<Counters>,
}

impl Transport {
    pub fn new(
        base: ApiUrl,
        token: AuthToken,
        user_agent: &str,
        connect_timeout: Duration,
        request_timeout: Duration,
        counters: Arc<Counters>,
    ) -> Result<Self, ApiError> {
        let http = http_client(&base, user_agent, connect_timeout, request_timeout)?;
        Ok(Self {
            http,
            base,
            token,
            connect_timeout,
            request_timeout,
            counters,
        })
    }

    /// The same connection pool and settings, authenticated by another token.
    pub fn with_token(&self, token: AuthToken) -> Self {
        Self {
            http: self.http.clone(),
            base: self.base.clone(),
            token,
            connect_timeout: self.connect_timeout,
            request_timeout: self.request_timeout,
            counters: self.counters.clone(),
        }
    }

    pub fn base(&self) -> &ApiUrl {
        &self.base
    }

    pub fn token(&self) -> &AuthToken {
        &self.token
    }

    /// Send one request and return the response, whatever its status.
    async fn send(
        &self,
        method: &Method,
        target: &RequestTarget,
        body: Option<&RequestBody>,
        user_action: Option<&UserActionToken>,
    ) -> Result<RawResponse, ApiError> {
        let url = self
            .base
            .join(&target.to_string())
            .map_err(|e| ApiError::InvalidRequest(e.to_string()))?;
        let bearer = zeroize::Zeroizing::new(format!("Bearer {}", self.token.expose_secret()));
        let mut auth = HeaderValue::from_str(&bearer)
            .map_err(|_| ApiError::Config("the auth token is not a valid header value".into()))?;
        auth.set_sensitive(true);
        let mut req = self
            .http
            .request(method.clone(), url)
            .header(AUTHORIZATION, auth);
        if let Some(ua) = user_action {
            let mut v = HeaderValue::from_str(ua.expose_secret()).map_err(|_| {
                ApiError::InvalidRequest("the user-action token is not a valid header value".into())
            })?;
            v.set_sensitive(true);
            req = req.header(USER_ACTION_HEADER, v);
        }
        if let Some(b) = body {
            req = req
                .header(CONTENT_TYPE, "application/json")
                .body(b.as_str().to_owned());
        }

        let started = Instant::now();
        self.counters.request();
        let mut resp = req
            .send()
            .await
            .map_err(|e| self.map_err(method, target, e))?;
        let status = resp.status().as_u16();
        let request_id = resp
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let mut bytes = zeroize::Zeroizing::new(Vec::new());
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| self.map_err(method, target, e))?
        {
            if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(ApiError::UnexpectedResponse {
                    method: method.clone(),
                    target: target.to_string(),
                    status,
                    reason: format!("the response is larger than {MAX_RESPONSE_BYTES} bytes"),
                    body: RawBody(String::new()),
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        tracing::debug!(
            %method,
            path = target.path(),
            status,
            signed = user_action.is_some(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "dfns api request"
        );
        Ok(RawResponse {
            status,
            body: bytes,
            request_id,
            retry_after,
        })
    }

    /// Send one request and map its answer: 200..=299 except 202 are done, 202 is a pending
    /// approval, anything else an error.
    pub async fn exchange(
        &self,
        method: &Method,
        target: &RequestTarget,
        body: Option<&RequestBody>,
        user_action: Option<&UserActionToken>,
    ) -> Result<Outcome<RawResponse>, ApiError> {
        let resp = self.send(method, target, body, user_action).await?;
        match StatusCode::from_u16(resp.status) {
            Ok(StatusCode::ACCEPTED) => Ok(Outcome::PendingApproval(resp.json_or_text())),
            Ok(s) if s.is_success() => Ok(Outcome::Done(resp)),
            _ => Err(self.http_error(method, target, &resp).into()),
        }
    }

    /// Send and require a completed 2xx (not 202): for the user-action steps.
    pub async fn send_expect_done(
        &self,
        method: &Method,
        target: &RequestTarget,
        body: Option<&RequestBody>,
    ) -> Result<RawResponse, ApiError> {
        let outcome = self.exchange(method, target, body, None).await?;
        expect_done(outcome, method, target)
    }

    fn http_error(&self, method: &Method, target: &RequestTarget, resp: &RawResponse) -> HttpError {
        let mut e =
            HttpError::from_body(resp.status, method.clone(), target.to_string(), &resp.body);
        e.request_id = resp.request_id.clone();
        e.retry_after = resp.retry_after;
        if resp.status == 401 {
            e.hint = self.token_hint();
        }
        e
    }

    /// What the token itself says, for 401s: expired, or which org/user it belongs to.
    fn token_hint(&self) -> Option<String> {
        let claims = self.token.claims().ok()?;
        if claims.is_expired_at(SystemTime::now()) {
            let when = claims.exp.map(format_unix_time).unwrap_or_default();
            return Some(format!("the token expired on {when}: create a new one"));
        }
        Some(format!(
            "the token ({}) is not expired; is it for this region ({})?",
            claims.summary(),
            self.base.host()
        ))
    }

    fn map_err(&self, method: &Method, target: &RequestTarget, e: reqwest::Error) -> ApiError {
        if e.is_timeout() {
            let connect = e.is_connect();
            return ApiError::Timeout {
                method: method.clone(),
                target: target.to_string(),
                host: self.base.host(),
                phase: if connect {
                    Phase::Connect
                } else {
                    Phase::Request
                },
                after: if connect {
                    self.connect_timeout
                } else {
                    self.request_timeout
                },
            };
        }
        ApiError::Transport {
            method: method.clone(),
            target: target.to_string(),
            host: self.base.authority(),
            source: e.without_url(),
        }
    }
}

/// A completed answer, for a call no policy should hold: a 202 there is unexpected.
pub(crate) fn expect_done(
    outcome: Outcome<RawResponse>,
    method: &Method,
    target: &RequestTarget,
) -> Result<RawResponse, ApiError> {
    match outcome {
        Outcome::Done(r) => Ok(r),
        Outcome::PendingApproval(v) => Err(ApiError::UnexpectedResponse {
            method: method.clone(),
            target: target.to_string(),
            status: 202,
            reason: "a policy approval is pending for a call that should not need one".into(),
            body: RawBody(v.to_string()),
        }),
    }
}
