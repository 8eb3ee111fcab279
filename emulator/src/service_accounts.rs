//! `/auth/service-accounts`: list, create, get, update, activate, deactivate, archive.
//!
//! Semantics: names are unique among live service accounts (409); only an organization user,
//! not a service account, may create one (403); `accessToken` appears only in the create
//! response; a deactivated or archived account's token stops authenticating (401); archived
//! accounts disappear from list and get (404), free their name and lose their permission
//! assignments. The archive (DELETE) response is the account's final state, with
//! `isActive: false`.
//!
//! Permissions (Dfns's API reference, "Required Permissions"): list and get need
//! `Auth:ServiceAccounts:Read`; create, update, activate and deactivate need
//! `Auth:ServiceAccounts:Create`, `:Update`, `:Activate` and `:Deactivate`; archive needs
//! `Auth:ServiceAccounts:Delete`. The check comes after authentication and the user-action
//! check, before the body is read and the account looked up. A new account holds no
//! permission unless the create names one (`permissionId`: it must exist and not be archived).

use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::app::{AppState, Inner};
use crate::approval::{self, Operation};
use crate::auth::{self, Caller};
use crate::body::{parse_json, parse_optional_json};
use crate::clock;
use crate::error::ApiError;
use crate::ids;
use crate::permissions::{self, ops};
use crate::public_key::PublicKey;
use crate::state::{AccessToken, Credential, State as OrgState, User};
use crate::user_action::Signed;

/// Largest `daysValid` accepted.
const MAX_DAYS_VALID: i64 = 730;

/// The `{serviceAccountId}` path segment.
pub struct AccountId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for AccountId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(id) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|e| {
                    ApiError::bad_request(
                        "invalid_path",
                        format!("serviceAccountId is not a valid path segment: {e}"),
                    )
                })?;
        Ok(AccountId(id))
    }
}

/// The JSON view of a service account (`{userInfo, accessTokens}`); `access_token` only on create.
fn view(state: &OrgState, user: &User, access_token: Option<&str>) -> Value {
    let assignments = permissions::held_by(state, &user.user_id);
    let mut user_info = json!({
        "username": user.username,
        "name": user.name,
        "userId": user.user_id,
        "kind": user.kind,
        "credentialUuid": user.credential.credential_uuid,
        "orgId": state.org_id,
        "permissions": [],
        "isActive": user.is_active,
        "isServiceAccount": user.is_service_account,
        "isRegistered": true,
        "permissionAssignments": assignments,
    });
    if let (Some(ext), Some(obj)) = (&user.external_id, user_info.as_object_mut()) {
        obj.insert("externalId".into(), json!(ext));
    }
    let mut token = json!({
        "dateCreated": user.token.date_created,
        "credId": user.credential.cred_id,
        "isActive": user.is_active,
        "kind": "ServiceAccount",
        "linkedUserId": user.user_id,
        "linkedAppId": state.app_id,
        "name": user.name,
        "orgId": state.org_id,
        "permissionAssignments": assignments,
        "publicKey": user.credential.public_key,
        "tokenId": user.token.token_id,
    });
    if let (Some(at), Some(obj)) = (access_token, token.as_object_mut()) {
        obj.insert("accessToken".into(), json!(at));
    }
    json!({ "userInfo": user_info, "accessTokens": [token] })
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(
        "service_account_not_found",
        format!("service account {id} not found"),
    )
}

fn name_taken(state: &OrgState, name: &str, except: Option<&str>) -> bool {
    state.users.iter().any(|u| {
        u.is_service_account && !u.archived && u.name == name && Some(u.user_id.as_str()) != except
    })
}

fn conflict(name: &str) -> ApiError {
    ApiError::conflict(
        "name_conflict",
        format!("a service account named {name:?} already exists in this organization"),
    )
}

fn accepted(body: Value) -> Response {
    (StatusCode::ACCEPTED, Json(body)).into_response()
}

/// `GET /auth/service-accounts`.
pub async fn list(State(app): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let inner = app.lock();
    permissions::require(&inner.state, &caller, ops::SERVICE_ACCOUNTS_READ)?;
    let items: Vec<Value> = inner
        .state
        .users
        .iter()
        .filter(|u| u.is_service_account && !u.archived)
        .map(|u| view(&inner.state, u, None))
        .collect();
    Ok(Json(json!({ "items": items })))
}

/// `GET /auth/service-accounts/{id}`.
pub async fn get_one(
    State(app): State<AppState>,
    caller: Caller,
    AccountId(id): AccountId,
) -> Result<Json<Value>, ApiError> {
    let inner = app.lock();
    permissions::require(&inner.state, &caller, ops::SERVICE_ACCOUNTS_READ)?;
    let user = inner
        .state
        .live_user(&id)
        .filter(|u| u.is_service_account)
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(view(&inner.state, user, None)))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateBody {
    name: String,
    public_key: String,
    #[serde(default)]
    permission_id: Option<String>,
    #[serde(default)]
    external_id: Option<String>,
    #[serde(default)]
    days_valid: Option<i64>,
}

/// `POST /auth/service-accounts` (user action required; organization users only).
pub async fn create(
    State(app): State<AppState>,
    Signed { caller, body }: Signed,
) -> Result<Response, ApiError> {
    if caller.is_service_account {
        return Err(ApiError::forbidden(
            "caller_not_allowed",
            format!(
                "service account {} is not authorized to perform operation (Auth:ServiceAccounts:Create): only an organization user can create service accounts",
                caller.user_id
            ),
        ));
    }
    permissions::require(&app.lock().state, &caller, ops::SERVICE_ACCOUNTS_CREATE)?;
    let req: CreateBody = parse_json(&body, "CreateServiceAccountBody")?;
    if req.name.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_body",
            "name must not be empty",
        ));
    }
    let days = req
        .days_valid
        .unwrap_or(i64::try_from(app.settings.default_days_valid).unwrap_or(365));
    if !(1..=MAX_DAYS_VALID).contains(&days) {
        return Err(ApiError::bad_request(
            "invalid_body",
            format!("daysValid must be between 1 and {MAX_DAYS_VALID}, got {days}"),
        ));
    }
    let key = PublicKey::from_dfns_pem(&req.public_key)
        .map_err(|e| ApiError::bad_request("invalid_public_key", e))?;

    let mut inner = app.lock();
    if name_taken(&inner.state, &req.name, None) {
        return Err(conflict(&req.name));
    }
    if let Some(pm) = &req.permission_id {
        permissions::assignable(&inner.state, pm)?;
    }
    if app.needs_approval(Operation::Create) {
        let body_json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        return Ok(accepted(approval::pending_approval(
            Operation::Create,
            &caller.user_id,
            None,
            body_json,
        )));
    }
    let now = clock::now_rfc3339();
    let ttl_secs = app
        .settings
        .token_ttl_override_secs
        .unwrap_or_else(|| u64::try_from(days).unwrap_or(1).saturating_mul(86_400));
    let user = User {
        user_id: ids::new_id("us"),
        name: req.name.clone(),
        username: req.name,
        kind: "CustomerEmployee".into(),
        is_service_account: true,
        is_active: true,
        archived: false,
        external_id: req.external_id,
        credential: Credential {
            cred_id: ids::new_cred_id(),
            credential_uuid: ids::new_id("cr"),
            public_key: req.public_key,
            date_created: now.clone(),
        },
        token: AccessToken {
            token_id: ids::new_id("to"),
            expires_at: clock::now_secs().saturating_add(ttl_secs),
            date_created: now.clone(),
        },
        date_created: now,
    };
    let token =
        auth::mint_access_token(&app.key, &inner.state.org_id, &user, user.token.expires_at)?;
    let before = inner.state.clone();
    inner.state.users.push(user.clone());
    if let Some(pm) = &req.permission_id {
        let assignment = permissions::new_assignment(pm, &user.user_id);
        inner.state.assignments.push(assignment);
    }
    if let Err(e) = app.persist(&inner.state) {
        inner.state = before;
        return Err(e);
    }
    app.faults
        .committed(Operation::Create.kind(), &user.user_id, &user.name);
    tracing::info!(service_account = %user.user_id, alg = key.algorithm(), "service account created");
    Ok(Json(view(&inner.state, &user, Some(&token))).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UpdateBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    external_id: Option<String>,
}

/// Apply `change` to live service account `id` and persist; roll back if saving fails.
fn mutate(
    app: &AppState,
    inner: &mut Inner,
    op: Operation,
    id: &str,
    change: impl FnOnce(&mut User),
) -> Result<Value, ApiError> {
    let before = inner
        .state
        .live_service_account_mut(id)
        .ok_or_else(|| not_found(id))?
        .clone();
    if let Some(user) = inner.state.live_service_account_mut(id) {
        change(user);
    }
    if let Err(e) = app.persist(&inner.state) {
        if let Some(slot) = inner.state.users.iter_mut().find(|u| u.user_id == id) {
            *slot = before;
        }
        return Err(e);
    }
    let user = inner
        .state
        .users
        .iter()
        .find(|u| u.user_id == id)
        .ok_or_else(|| not_found(id))?;
    app.faults.committed(op.kind(), id, &user.name);
    Ok(view(&inner.state, user, None))
}

fn require_exists(inner: &mut Inner, id: &str) -> Result<(), ApiError> {
    inner
        .state
        .live_service_account_mut(id)
        .map(|_| ())
        .ok_or_else(|| not_found(id))
}

/// `PUT /auth/service-accounts/{id}` with `{name?, externalId?}`.
pub async fn update(
    State(app): State<AppState>,
    AccountId(id): AccountId,
    Signed { caller, body }: Signed,
) -> Result<Response, ApiError> {
    permissions::require(&app.lock().state, &caller, ops::SERVICE_ACCOUNTS_UPDATE)?;
    let req: UpdateBody = parse_optional_json(&body, "UpdateServiceAccountBody")?;
    if req.name.as_deref() == Some("") {
        return Err(ApiError::bad_request(
            "invalid_body",
            "name must not be empty",
        ));
    }
    let mut inner = app.lock();
    require_exists(&mut inner, &id)?;
    if let Some(name) = &req.name {
        if name_taken(&inner.state, name, Some(&id)) {
            return Err(conflict(name));
        }
    }
    if app.needs_approval(Operation::Update) {
        let body_json = serde_json::from_slice(&body).unwrap_or(json!({}));
        return Ok(accepted(approval::pending_approval(
            Operation::Update,
            &caller.user_id,
            Some(&id),
            body_json,
        )));
    }
    let view = mutate(&app, &mut inner, Operation::Update, &id, |u| {
        if let Some(name) = req.name {
            u.name = name.clone();
            u.username = name;
        }
        if let Some(ext) = req.external_id {
            u.external_id = Some(ext);
        }
    })?;
    Ok(Json(view).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmptyBody {}

/// `PUT /auth/service-accounts/{id}/activate` (body empty or `{}`).
pub async fn activate(
    State(app): State<AppState>,
    AccountId(id): AccountId,
    Signed { caller, body }: Signed,
) -> Result<Response, ApiError> {
    permissions::require(&app.lock().state, &caller, ops::SERVICE_ACCOUNTS_ACTIVATE)?;
    let _: EmptyBody = parse_optional_json(&body, "ActivateServiceAccount body (empty or {})")?;
    let mut inner = app.lock();
    require_exists(&mut inner, &id)?;
    if app.needs_approval(Operation::Activate) {
        return Ok(accepted(approval::pending_approval(
            Operation::Activate,
            &caller.user_id,
            Some(&id),
            json!({}),
        )));
    }
    let view = mutate(&app, &mut inner, Operation::Activate, &id, |u| {
        u.is_active = true
    })?;
    Ok(Json(view).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeactivateBody {
    #[serde(default)]
    force: bool,
}

/// `PUT /auth/service-accounts/{id}/deactivate` with `{force?}`.
pub async fn deactivate(
    State(app): State<AppState>,
    AccountId(id): AccountId,
    Signed { caller, body }: Signed,
) -> Result<Response, ApiError> {
    permissions::require(&app.lock().state, &caller, ops::SERVICE_ACCOUNTS_DEACTIVATE)?;
    let req: DeactivateBody = parse_optional_json(&body, "DeactivateServiceAccountBody")?;
    let mut inner = app.lock();
    require_exists(&mut inner, &id)?;
    if app.needs_approval(Operation::Deactivate) && !req.force {
        return Ok(accepted(approval::pending_approval(
            Operation::Deactivate,
            &caller.user_id,
            Some(&id),
            json!({ "force": false }),
        )));
    }
    let view = mutate(&app, &mut inner, Operation::Deactivate, &id, |u| {
        u.is_active = false
    })?;
    tracing::info!(service_account = %id, "service account deactivated");
    Ok(Json(view).into_response())
}

/// Query of `DELETE /auth/service-accounts/{id}`.
#[derive(Debug, Deserialize)]
pub struct ArchiveQuery {
    #[serde(default)]
    force: Option<String>,
}

/// `DELETE /auth/service-accounts/{id}[?force=true]` (body empty or `{}`).
pub async fn archive(
    State(app): State<AppState>,
    AccountId(id): AccountId,
    query: Result<Query<ArchiveQuery>, axum::extract::rejection::QueryRejection>,
    Signed { caller, body }: Signed,
) -> Result<Response, ApiError> {
    permissions::require(&app.lock().state, &caller, ops::SERVICE_ACCOUNTS_DELETE)?;
    let Query(query) = query.map_err(|e| {
        ApiError::bad_request("invalid_query", format!("invalid query string: {e}"))
    })?;
    let force = match query.force.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("force must be true or false, got {other:?}"),
            ))
        }
    };
    let _: EmptyBody = parse_optional_json(&body, "DeleteServiceAccount body (empty or {})")?;
    let mut inner = app.lock();
    require_exists(&mut inner, &id)?;
    if app.needs_approval(Operation::Archive) && !force {
        return Ok(accepted(approval::pending_approval(
            Operation::Archive,
            &caller.user_id,
            Some(&id),
            json!({}),
        )));
    }
    // An archived account can never authenticate again: its assignments go with it.
    let assignments = inner.state.assignments.clone();
    inner.state.assignments.retain(|a| a.identity_id != id);
    let view = mutate(&app, &mut inner, Operation::Archive, &id, |u| {
        u.is_active = false;
        u.archived = true;
    })
    .inspect_err(|_| inner.state.assignments = assignments)?;
    tracing::info!(service_account = %id, "service account archived");
    Ok(Json(view).into_response())
}
