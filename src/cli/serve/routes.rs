//! The HTTP endpoints: `/v1/sign`, the proxy `/v1/dfns/{path}`, `/healthz`, `/readyz`,
//! `/metrics`.

use std::sync::{Arc, RwLock};

use axum::body::Body;
use axum::extract::{Request, State as Shared};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Extension, Json, Router};
use serde_json::{json, Value};

use super::keyring::Keyring;
use super::metrics::{Gauges, Metrics};
use super::policy::{unsafe_path, METHOD_OVERRIDE_HEADERS};
use super::readiness;
use super::reply::Refusal;
use super::state::{Client, Identity, State};
use crate::api::{ApiError, Method, Outcome, RequestBody};
use crate::signer::{sign_audited, Signer as _, SignerError, UserActionChallenge};

/// Largest request body accepted.
pub const MAX_BODY: usize = 1024 * 1024;
/// Header naming the identity a client wants.
pub const IDENTITY_HEADER: &str = "x-dfns-hsm-identity";
/// Where the proxy lives.
const PROXY_PREFIX: &str = "/v1/dfns";

/// What every request shares.
pub struct Service {
    state: RwLock<Arc<State>>,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The logged-in tokens.
    pub keyring: Arc<Keyring>,
}

impl Service {
    /// A service serving `state`.
    pub fn new(state: State, keyring: Arc<Keyring>, metrics: Arc<Metrics>) -> Self {
        Self {
            state: RwLock::new(Arc::new(state)),
            metrics,
            keyring,
        }
    }

    /// The state now (a reload swaps it; requests in flight keep the one they started with).
    pub fn state(&self) -> Arc<State> {
        match self.state.read() {
            Ok(s) => Arc::clone(&s),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }

    /// Serve `state` from now on.
    pub fn replace(&self, state: State) {
        let mut slot = match self.state.write() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        *slot = Arc::new(state);
    }
}

/// How a connection reached the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// Through a unix socket (its mode and group already admitted the peer).
    Unix,
    /// Through TCP (a client token is required).
    Tcp {
        /// The listener requires a client certificate and this connection presented none.
        certificate_missing: bool,
    },
}

/// The routes.
pub fn router(service: Arc<Service>) -> Router {
    Router::new()
        .route("/v1/sign", post(sign))
        .route("/v1/dfns/{*path}", any(proxy))
        .route(
            "/healthz",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(|| async { Refusal::not_found("no such endpoint: see docs/SERVICE.md") })
        .with_state(service)
}

/// Who is asking: the client its token names (or the tokenless unix client).
fn authenticate<'s>(
    state: &'s State,
    peer: Peer,
    headers: &HeaderMap,
) -> Result<&'s Client, Refusal> {
    if peer
        == (Peer::Tcp {
            certificate_missing: true,
        })
    {
        return Err(Refusal::unauthorized(
            "this listener requires a TLS client certificate from its client CA",
        ));
    }
    let token =
        match headers.get(header::AUTHORIZATION) {
            Some(value) => {
                let text = value.to_str().unwrap_or_default();
                let token = text
                    .strip_prefix("Bearer ")
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| {
                        Refusal::unauthorized(
                            "the Authorization header must be `Bearer <client token>`",
                        )
                    })?;
                Some(token)
            }
            None if peer != Peer::Unix => return Err(Refusal::unauthorized(
                "a client token is required on TCP: send `Authorization: Bearer <client token>`",
            )),
            None => None,
        };
    state
        .client(token)
        .ok_or_else(|| Refusal::unauthorized("the client token is not one this service knows"))
}

/// The body, at most [`MAX_BODY`] bytes.
async fn read_body(headers: &HeaderMap, body: Body) -> Result<axum::body::Bytes, Refusal> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(Refusal::too_large(MAX_BODY));
    }
    axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| Refusal::too_large(MAX_BODY))
}

/// The identities `client` may use, narrowed by the identity header when given.
fn usable<'s>(
    state: &'s State,
    client: &Client,
    headers: &HeaderMap,
) -> Result<Vec<&'s Identity>, Refusal> {
    let mine = client
        .identities
        .iter()
        .filter_map(|i| state.identities.get(*i));
    match headers.get(IDENTITY_HEADER) {
        Some(wanted) => {
            let wanted = wanted.to_str().unwrap_or_default();
            let found: Vec<&Identity> = mine.filter(|i| i.name == wanted).collect();
            if found.is_empty() {
                return Err(Refusal::forbidden(format!(
                    "client {:?} may not use identity {wanted:?}",
                    client.name
                )));
            }
            Ok(found)
        }
        None => Ok(mine.collect()),
    }
}

async fn sign(
    Shared(service): Shared<Arc<Service>>,
    Extension(peer): Extension<Peer>,
    request: Request,
) -> Response {
    let state = service.state();
    let (parts, body) = request.into_parts();
    let client = match authenticate(&state, peer, &parts.headers) {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    match sign_for(&service, &state, client, &parts.headers, body).await {
        Ok(r) => r,
        Err(r) => r.into_response(),
    }
}

async fn sign_for(
    service: &Service,
    state: &State,
    client: &Client,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Refusal> {
    let bytes = read_body(headers, body).await?;
    let challenge: UserActionChallenge = serde_json::from_slice(&bytes).map_err(|e| {
        Refusal::bad_request(format!(
            "the body is not a user-action challenge (the /auth/action/init answer): {e}"
        ))
    })?;
    let candidates =
        usable(state, client, headers).inspect_err(|_| service.metrics.denied("identity"))?;
    let allowed: Vec<&str> = challenge.allowed_key_ids().collect();
    let identity = if allowed.is_empty() {
        match candidates.as_slice() {
            [one] => *one,
            _ => {
                service.metrics.denied("identity");
                return Err(Refusal::forbidden(
                    "the challenge allows no Key credential and this client may use several identities: send X-Dfns-Hsm-Identity",
                ));
            }
        }
    } else {
        *candidates
            .iter()
            .find(|i| allowed.contains(&i.signer.cred_id()))
            .ok_or_else(|| {
                service.metrics.denied("identity");
                Refusal::forbidden(format!(
                    "no identity client {:?} may use is allowed by the challenge (it allows {})",
                    client.name,
                    allowed.join(", ")
                ))
            })?
    };
    let audit = state.audit.as_ref().map(|a| a.tagged(&client.name, None));
    let signed = sign_audited(&*identity.metered, &challenge, audit.as_ref(), None)
        .await
        .map_err(|e| Refusal::audit_failed(e.to_string()))?;
    identity.set_healthy(signed.is_ok());
    match signed {
        Ok(first_factor) => Ok(Json(first_factor).into_response()),
        Err(e) => Err(signer_refusal(&identity.name, &e)),
    }
}

/// A failed signature: 503 with a retry hint (soon for a transient fault, later otherwise).
fn signer_refusal(identity: &str, e: &SignerError) -> Refusal {
    tracing::warn!(identity, "signature failed: {e}");
    let retry_after = if e.is_transient() { 1 } else { 30 };
    Refusal::hsm_unavailable(
        format!("identity {identity:?} cannot sign now: {e}"),
        retry_after,
    )
}

async fn proxy(
    Shared(service): Shared<Arc<Service>>,
    Extension(peer): Extension<Peer>,
    request: Request,
) -> Response {
    let state = service.state();
    let (parts, body) = request.into_parts();
    let response = match authenticate(&state, peer, &parts.headers) {
        Ok(client) => proxy_for(&service, &state, client, &parts, body).await,
        Err(r) => Err(r),
    };
    let response = response.unwrap_or_else(IntoResponse::into_response);
    service.metrics.proxied(response.status().as_u16());
    response
}

async fn proxy_for(
    service: &Service,
    state: &State,
    client: &Client,
    parts: &axum::http::request::Parts,
    body: Body,
) -> Result<Response, Refusal> {
    let deny = |reason: &str, message: String| {
        service.metrics.denied(reason);
        Refusal::forbidden(message)
    };
    if let Some(h) = METHOD_OVERRIDE_HEADERS
        .iter()
        .find(|h| parts.headers.contains_key(**h))
    {
        return Err(deny(
            "method-override",
            format!("the {h} header is refused: the method signed is the method sent"),
        ));
    }
    // The raw path, as sent: nothing decoded, so what the policy sees is what Dfns gets.
    let raw = parts.uri.path();
    let path = raw
        .strip_prefix(PROXY_PREFIX)
        .filter(|p| p.starts_with('/'))
        .unwrap_or("/");
    if path == "/auth/action" || path.starts_with("/auth/action/") {
        return Err(deny(
            "route",
            "the user-action endpoints are the service's own: it runs that flow itself".into(),
        ));
    }
    if let Some(why) = unsafe_path(path) {
        return Err(deny("path", format!("{path:?} is refused: {why}")));
    }
    let method = parts.method.as_str();
    if !client.routes.iter().any(|r| r.matches(method, path)) {
        return Err(deny(
            "route",
            format!("client {:?} may not call {method} {path}", client.name),
        ));
    }
    let with_api: Vec<&Identity> = usable(state, client, &parts.headers)
        .inspect_err(|_| service.metrics.denied("identity"))?
        .into_iter()
        .filter(|i| i.api.is_some())
        .collect();
    let identity = match with_api.as_slice() {
        [one] => *one,
        [] => {
            return Err(deny(
                "identity",
                format!(
                    "client {:?} has no identity with a Dfns token (auth_token_file) to call as",
                    client.name
                ),
            ))
        }
        _ => {
            return Err(Refusal::bad_request(
                "this client may call as several identities: name one in X-Dfns-Hsm-Identity",
            ))
        }
    };
    let bytes = read_body(&parts.headers, body).await?;
    let request_body = if bytes.is_empty() {
        None
    } else {
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| Refusal::bad_request("the body is not UTF-8 JSON"))?;
        Some(RequestBody::raw(text).map_err(Refusal::bad_request)?)
    };
    let target = match parts.uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let api = identity.api.as_ref().map(|c| {
        c.with_audit(
            state
                .audit
                .as_ref()
                .map(|a| Arc::new(a.tagged(&client.name, Some(&bytes)))),
        )
    });
    let Some(api) = api else {
        return Err(Refusal::bad_gateway("no API client"));
    };
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| Refusal::bad_request(format!("{method:?} is not an HTTP method")))?;
    tracing::info!(client = %client.name, identity = %identity.name, %method, path, "proxied");
    match api.call_with(method, &target, request_body, None).await {
        Ok(Outcome::Done(resp)) => Ok(answer(resp.status, &resp.body)),
        Ok(Outcome::PendingApproval(v)) => Ok(answer(202, &v)),
        Err(ApiError::Http(h)) => Ok(passthrough(h.status, &h.body)),
        Err(ApiError::Signer(e)) => {
            identity.set_healthy(false);
            Err(signer_refusal(&identity.name, &e))
        }
        Err(ApiError::InvalidRequest(m)) => Err(Refusal::bad_request(m)),
        Err(e) => Err(Refusal::bad_gateway(format!("the Dfns API: {e}"))),
    }
}

fn answer(status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    if body.is_null() {
        return status.into_response();
    }
    (status, Json(body.clone())).into_response()
}

fn passthrough(status: u16, body: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_owned(),
    )
        .into_response()
}

async fn readyz(Shared(service): Shared<Arc<Service>>) -> Response {
    let state = service.state();
    let report = readiness::check(state).await;
    let status = if report.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report.to_json())).into_response()
}

async fn metrics(Shared(service): Shared<Arc<Service>>) -> Response {
    let state = service.state();
    let now = std::time::SystemTime::now();
    let gauges = Gauges {
        sessions_in_use: service
            .keyring
            .tokens()
            .iter()
            .map(|t| t.sessions_in_use())
            .sum(),
        token_expiry: state
            .identities
            .iter()
            .filter_map(|i| {
                i.token_expires
                    .map(|t| (i.name.clone(), seconds_until(now, t)))
            })
            .collect(),
    };
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        service.metrics.render(&gauges),
    )
        .into_response()
}

/// Seconds from `now` to `then` (negative once past).
pub fn seconds_until(now: std::time::SystemTime, then: std::time::SystemTime) -> i64 {
    match then.duration_since(now) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}
