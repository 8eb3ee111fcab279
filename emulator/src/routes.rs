//! The HTTP surface: routes, JSON 404/405 fallbacks, the body-size cap and request logging.

use std::time::Instant;

use axum::extract::State;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::{Json, Router};

use crate::app::AppState;
use crate::body::MAX_BODY_BYTES;
use crate::error::ApiError;
use crate::faults;
use crate::ids;
use crate::permissions;
use crate::service_accounts;
use crate::user_action;

/// Build the router over `app`.
pub fn router(app: AppState) -> Router {
    Router::new()
        .route("/auth/action/init", post(user_action::init))
        .route("/auth/action", post(user_action::complete))
        .route(
            "/auth/service-accounts",
            get(service_accounts::list).post(service_accounts::create),
        )
        .route(
            "/auth/service-accounts/{id}",
            get(service_accounts::get_one)
                .put(service_accounts::update)
                .delete(service_accounts::archive),
        )
        .route(
            "/auth/service-accounts/{id}/activate",
            put(service_accounts::activate),
        )
        .route(
            "/auth/service-accounts/{id}/deactivate",
            put(service_accounts::deactivate),
        )
        .route(
            "/permissions",
            get(permissions::list).post(permissions::create),
        )
        .route(
            "/permissions/{permissionId}",
            get(permissions::get_one)
                .put(permissions::update)
                .delete(permissions::delete),
        )
        .route(
            "/permissions/{permissionId}/archive",
            put(permissions::archive),
        )
        .route(
            "/permissions/{permissionId}/assignments",
            get(permissions::list_assignments).post(permissions::assign),
        )
        .route(
            "/permissions/{permissionId}/assignments/{assignmentId}",
            axum::routing::delete(permissions::revoke),
        )
        .route("/_emulator/stats", get(emulator_stats))
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(app.clone(), faults::inject))
        .layer(middleware::from_fn(log_request))
        .with_state(app)
}

/// `GET /_emulator/stats`: fault counters and the journal of committed mutations. Not a Dfns
/// endpoint; needs no token (the emulator listens on loopback) and never fails.
async fn emulator_stats(State(app): State<AppState>) -> Json<serde_json::Value> {
    Json(app.faults.stats())
}

async fn unknown_route(req: Request) -> ApiError {
    ApiError::not_found(
        "route_not_found",
        format!(
            "no such endpoint: {} {} (the emulator serves /auth/action, /auth/action/init, /auth/service-accounts and /permissions)",
            req.method(),
            req.uri().path()
        ),
    )
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "method {} is not allowed on {}",
            req.method(),
            req.uri().path()
        ),
    )
}

/// Log method, path (never the query, headers or body: they may hold tokens), status and
/// latency; tag every response with an `X-Request-ID`.
async fn log_request(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let request_id = ids::new_id("rq");
    let mut response = next.run(req).await;
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    tracing::info!(
        request_id = %request_id,
        %method,
        path = %path,
        status = response.status().as_u16(),
        elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "request"
    );
    response
}
