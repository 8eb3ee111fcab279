//! `/permissions`: create, list, get, update, archive, delete, assign, list assignments,
//! revoke; and [`require`], the permission check every endpoint runs.
//!
//! Rules (Dfns's where its docs state them, the emulator's choices otherwise; both are listed
//! in `emulator/README.md`):
//! - an identity may do what the operations of its assigned, non-archived permissions allow;
//!   anything else is 403 `permission_denied`, its message naming the missing operation as
//!   Dfns's does (`... is not authorized to perform operation (Auth:ServiceAccounts:Read)`);
//! - the bootstrap admin holds the immutable owner permission ([`OWNER_NAME`]), which lists
//!   every operation the emulator enforces; it cannot be updated, archived or deleted, and its
//!   assignment cannot be revoked (403 `permission_immutable`);
//! - permission names are unique (409 `name_conflict`); operations are `Word:Word[:Word…]`;
//! - an archived permission grants nothing and cannot be assigned (400 `permission_archived`);
//!   its assignments stay and grant again once it is unarchived;
//! - an identity holds a permission at most once (409 `assignment_conflict`); any live user or
//!   service account may be assigned, the caller included (`Permissions:Assign` is as strong as
//!   the strongest permission in the organization).
//!
//! Permission mutations are not written to the `/_emulator/stats` journal, which records
//! service-account mutations only.

use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::app::{AppState, Inner};
use crate::auth::Caller;
use crate::body::{parse_json, parse_optional_json};
use crate::clock;
use crate::error::ApiError;
use crate::ids;
use crate::state::{Assignment, Permission, State as OrgState};
use crate::user_action::Signed;

/// Operation names, as Dfns's SDKs spell them.
pub mod ops {
    /// List and get service accounts.
    pub const SERVICE_ACCOUNTS_READ: &str = "Auth:ServiceAccounts:Read";
    /// Create a service account.
    pub const SERVICE_ACCOUNTS_CREATE: &str = "Auth:ServiceAccounts:Create";
    /// Update a service account.
    pub const SERVICE_ACCOUNTS_UPDATE: &str = "Auth:ServiceAccounts:Update";
    /// Activate a service account.
    pub const SERVICE_ACCOUNTS_ACTIVATE: &str = "Auth:ServiceAccounts:Activate";
    /// Deactivate a service account.
    pub const SERVICE_ACCOUNTS_DEACTIVATE: &str = "Auth:ServiceAccounts:Deactivate";
    /// Archive (delete) a service account.
    pub const SERVICE_ACCOUNTS_DELETE: &str = "Auth:ServiceAccounts:Delete";
    /// List and get permissions.
    pub const PERMISSIONS_READ: &str = "Permissions:Read";
    /// Create a permission.
    pub const PERMISSIONS_CREATE: &str = "Permissions:Create";
    /// Update a permission.
    pub const PERMISSIONS_UPDATE: &str = "Permissions:Update";
    /// Archive or unarchive a permission.
    pub const PERMISSIONS_ARCHIVE: &str = "Permissions:Archive";
    /// Delete a permission.
    pub const PERMISSIONS_DELETE: &str = "Permissions:Delete";
    /// Assign a permission to an identity.
    pub const PERMISSIONS_ASSIGN: &str = "Permissions:Assign";
    /// Revoke an assignment.
    pub const PERMISSIONS_REVOKE: &str = "Permissions:Revoke";
    /// List a permission's assignments.
    pub const PERMISSIONS_ASSIGNMENTS_READ: &str = "Permissions:Assignments:Read";

    /// Every operation the emulator enforces: what the owner permission holds.
    pub const ALL: &[&str] = &[
        SERVICE_ACCOUNTS_READ,
        SERVICE_ACCOUNTS_CREATE,
        SERVICE_ACCOUNTS_UPDATE,
        SERVICE_ACCOUNTS_ACTIVATE,
        SERVICE_ACCOUNTS_DEACTIVATE,
        SERVICE_ACCOUNTS_DELETE,
        PERMISSIONS_READ,
        PERMISSIONS_CREATE,
        PERMISSIONS_UPDATE,
        PERMISSIONS_ARCHIVE,
        PERMISSIONS_DELETE,
        PERMISSIONS_ASSIGN,
        PERMISSIONS_REVOKE,
        PERMISSIONS_ASSIGNMENTS_READ,
    ];
}

/// Name of the bootstrap admin's immutable permission.
pub const OWNER_NAME: &str = "Owner";

/// Default and largest page size of the list endpoints.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

/// 403 unless `caller` holds `operation`.
pub fn require(state: &OrgState, caller: &Caller, operation: &str) -> Result<(), ApiError> {
    if state.grants(&caller.user_id, operation) {
        return Ok(());
    }
    let kind = if caller.is_service_account {
        "ServiceAccount"
    } else {
        "CustomerEmployee"
    };
    Err(ApiError::forbidden(
        "permission_denied",
        format!(
            "{kind} {} is not authorized to perform operation ({operation})",
            caller.user_id
        ),
    ))
}

/// The owner permission and its assignment to `admin_id`, for a new organization.
pub fn owner(admin_id: &str) -> (Permission, Assignment) {
    let now = clock::now_rfc3339();
    let permission = Permission {
        id: ids::new_id("pm"),
        name: OWNER_NAME.into(),
        operations: ops::ALL.iter().map(|s| (*s).to_owned()).collect(),
        is_immutable: true,
        is_archived: false,
        date_created: now.clone(),
        date_updated: now.clone(),
    };
    let assignment = Assignment {
        id: ids::new_id("as"),
        permission_id: permission.id.clone(),
        identity_id: admin_id.to_owned(),
        is_immutable: true,
        date_created: now.clone(),
        date_updated: now,
    };
    (permission, assignment)
}

/// Assign permission `permission_id` to `identity_id` (checks done by the caller).
pub fn new_assignment(permission_id: &str, identity_id: &str) -> Assignment {
    let now = clock::now_rfc3339();
    Assignment {
        id: ids::new_id("as"),
        permission_id: permission_id.to_owned(),
        identity_id: identity_id.to_owned(),
        is_immutable: false,
        date_created: now.clone(),
        date_updated: now,
    }
}

/// A permission that exists and may be assigned: 404 if unknown, 400 if archived.
pub fn assignable<'a>(state: &'a OrgState, id: &str) -> Result<&'a Permission, ApiError> {
    let p = state.permission(id).ok_or_else(|| not_found(id))?;
    if p.is_archived {
        return Err(ApiError::bad_request(
            "permission_archived",
            format!("permission {id} is archived and cannot be assigned"),
        ));
    }
    Ok(p)
}

/// The JSON view of a permission.
pub fn view(p: &Permission) -> Value {
    json!({
        "id": p.id,
        "name": p.name,
        "operations": p.operations,
        "status": if p.is_archived { "Archived" } else { "Active" },
        "isImmutable": p.is_immutable,
        "isArchived": p.is_archived,
        "dateCreated": p.date_created,
        "dateUpdated": p.date_updated,
    })
}

/// The JSON view of an assignment.
pub fn assignment_view(a: &Assignment) -> Value {
    json!({
        "id": a.id,
        "permissionId": a.permission_id,
        "identityId": a.identity_id,
        "isImmutable": a.is_immutable,
        "dateCreated": a.date_created,
        "dateUpdated": a.date_updated,
    })
}

/// An identity's assignments as service-account responses show them (`permissionAssignments`).
pub fn held_by(state: &OrgState, identity_id: &str) -> Vec<Value> {
    state
        .assignments_of(identity_id)
        .map(|(a, p)| {
            json!({
                "permissionName": p.name,
                "permissionId": p.id,
                "assignmentId": a.id,
                "operations": p.operations,
            })
        })
        .collect()
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found("permission_not_found", format!("permission {id} not found"))
}

fn immutable(what: &str) -> ApiError {
    ApiError::forbidden(
        "permission_immutable",
        format!("{what} is immutable and cannot be changed"),
    )
}

/// One `{id}` path segment (`permissionId` or `assignmentId`).
pub struct Segments(pub Vec<String>);

impl<S: Send + Sync> FromRequestParts<S> for Segments {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(map) =
            axum::extract::Path::<Vec<(String, String)>>::from_request_parts(parts, state)
                .await
                .map_err(|e| {
                    ApiError::bad_request("invalid_path", format!("invalid path segment: {e}"))
                })?;
        Ok(Segments(map.into_iter().map(|(_, v)| v).collect()))
    }
}

impl Segments {
    fn get(&self, i: usize) -> Result<&str, ApiError> {
        self.0
            .get(i)
            .map(String::as_str)
            .ok_or_else(|| ApiError::internal("route without its path parameter"))
    }
}

/// `?limit&paginationToken` of the list endpoints.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PageQuery {
    #[serde(default)]
    limit: Option<String>,
    #[serde(default)]
    pagination_token: Option<String>,
}

type QueryResult = Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>;

/// One page of `items` (ids from `id_of`): `{items, nextPageToken?}`. The token is the id of
/// the last item returned; the next page starts after it.
fn page<T>(
    items: &[T],
    query: QueryResult,
    id_of: impl Fn(&T) -> &str,
    render: impl Fn(&T) -> Value,
) -> Result<Value, ApiError> {
    let Query(q) = query.map_err(|e| {
        ApiError::bad_request("invalid_query", format!("invalid query string: {e}"))
    })?;
    let limit = match q.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("limit must be an integer from 1 to {MAX_LIMIT}, got {s:?}"),
                )
            })?,
    };
    let start = match q.pagination_token.as_deref() {
        None | Some("") => 0,
        Some(token) => {
            items
                .iter()
                .position(|i| id_of(i) == token)
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_query",
                        format!("paginationToken {token:?} is not a token this list issued"),
                    )
                })?
                + 1
        }
    };
    let rest = items.get(start..).unwrap_or_default();
    let shown = &rest[..rest.len().min(limit)];
    let mut body = json!({ "items": shown.iter().map(render).collect::<Vec<_>>() });
    if rest.len() > shown.len() {
        if let (Some(last), Some(obj)) = (shown.last(), body.as_object_mut()) {
            obj.insert("nextPageToken".into(), json!(id_of(last)));
        }
    }
    Ok(body)
}

/// Persist, or restore `before` and fail.
fn commit(app: &AppState, inner: &mut Inner, before: OrgState) -> Result<(), ApiError> {
    if let Err(e) = app.persist(&inner.state) {
        inner.state = before;
        return Err(e);
    }
    Ok(())
}

/// Check names: non-empty `Word:Word[:Word…]`, duplicates dropped (first kept).
fn operations(list: Vec<String>) -> Result<Vec<String>, ApiError> {
    if list.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_body",
            "operations must list at least one operation, e.g. Auth:ServiceAccounts:Read",
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for op in list {
        let parts: Vec<&str> = op.split(':').collect();
        let well_formed = parts.len() >= 2
            && parts.iter().all(|p| {
                p.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                    && p.chars().all(|c| c.is_ascii_alphanumeric())
            });
        if !well_formed {
            return Err(ApiError::bad_request(
                "invalid_body",
                format!("{op:?} is not an operation name (such as Auth:ServiceAccounts:Read)"),
            ));
        }
        if !out.contains(&op) {
            out.push(op);
        }
    }
    Ok(out)
}

fn check_name(state: &OrgState, name: &str, except: Option<&str>) -> Result<(), ApiError> {
    if name.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_body",
            "name must not be empty",
        ));
    }
    if state
        .permissions
        .iter()
        .any(|p| p.name == name && Some(p.id.as_str()) != except)
    {
        return Err(ApiError::conflict(
            "name_conflict",
            format!("a permission named {name:?} already exists in this organization"),
        ));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateBody {
    name: String,
    operations: Vec<String>,
}

/// `POST /permissions` (user action; `Permissions:Create`).
pub async fn create(
    State(app): State<AppState>,
    Signed { caller, body }: Signed,
) -> Result<Json<Value>, ApiError> {
    let mut inner = app.lock();
    require(&inner.state, &caller, ops::PERMISSIONS_CREATE)?;
    let req: CreateBody = parse_json(&body, "CreatePermissionBody")?;
    check_name(&inner.state, &req.name, None)?;
    let operations = operations(req.operations)?;
    let now = clock::now_rfc3339();
    let permission = Permission {
        id: ids::new_id("pm"),
        name: req.name,
        operations,
        is_immutable: false,
        is_archived: false,
        date_created: now.clone(),
        date_updated: now,
    };
    let before = inner.state.clone();
    inner.state.permissions.push(permission.clone());
    commit(&app, &mut inner, before)?;
    tracing::info!(permission = %permission.id, "permission created");
    Ok(Json(view(&permission)))
}

/// `GET /permissions` (`Permissions:Read`).
pub async fn list(
    State(app): State<AppState>,
    caller: Caller,
    query: QueryResult,
) -> Result<Json<Value>, ApiError> {
    let inner = app.lock();
    require(&inner.state, &caller, ops::PERMISSIONS_READ)?;
    page(&inner.state.permissions, query, |p| &p.id, view).map(Json)
}

/// `GET /permissions/{permissionId}` (`Permissions:Read`).
pub async fn get_one(
    State(app): State<AppState>,
    caller: Caller,
    path: Segments,
) -> Result<Json<Value>, ApiError> {
    let id = path.get(0)?;
    let inner = app.lock();
    require(&inner.state, &caller, ops::PERMISSIONS_READ)?;
    let p = inner.state.permission(id).ok_or_else(|| not_found(id))?;
    Ok(Json(view(p)))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UpdateBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    operations: Option<Vec<String>>,
}

/// Apply `change` to permission `id` (not immutable) and persist.
fn change_permission(
    app: &AppState,
    inner: &mut Inner,
    id: &str,
    change: impl FnOnce(&mut Permission),
) -> Result<Value, ApiError> {
    let p = inner.state.permission(id).ok_or_else(|| not_found(id))?;
    if p.is_immutable {
        return Err(immutable(&format!("permission {id} ({})", p.name)));
    }
    let before = inner.state.clone();
    let now = clock::now_rfc3339();
    let mut view_after = Value::Null;
    if let Some(p) = inner.state.permissions.iter_mut().find(|p| p.id == id) {
        change(p);
        p.date_updated = now;
        view_after = view(p);
    }
    commit(app, inner, before)?;
    Ok(view_after)
}

/// `PUT /permissions/{permissionId}` with `{name?, operations?}` (user action;
/// `Permissions:Update`).
pub async fn update(
    State(app): State<AppState>,
    path: Segments,
    Signed { caller, body }: Signed,
) -> Result<Json<Value>, ApiError> {
    let id = path.get(0)?;
    let mut inner = app.lock();
    require(&inner.state, &caller, ops::PERMISSIONS_UPDATE)?;
    let req: UpdateBody = parse_optional_json(&body, "UpdatePermissionBody")?;
    if let Some(name) = &req.name {
        check_name(&inner.state, name, Some(id))?;
    }
    let operations = req.operations.map(operations).transpose()?;
    let v = change_permission(&app, &mut inner, id, |p| {
        if let Some(name) = req.name {
            p.name = name;
        }
        if let Some(ops) = operations {
            p.operations = ops;
        }
    })?;
    Ok(Json(v))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ArchiveBody {
    is_archived: bool,
}

/// `PUT /permissions/{permissionId}/archive` with `{isArchived}` (user action;
/// `Permissions:Archive`).
pub async fn archive(
    State(app): State<AppState>,
    path: Segments,
    Signed { caller, body }: Signed,
) -> Result<Json<Value>, ApiError> {
    let id = path.get(0)?;
    let mut inner = app.lock();
    require(&inner.state, &caller, ops::PERMISSIONS_ARCHIVE)?;
    let req: ArchiveBody = parse_json(&body, "ArchivePermissionBody")?;
    let v = change_permission(&app, &mut inner, id, |p| p.is_archived = req.is_archived)?;
    tracing::info!(permission = %id, archived = req.is_archived, "permission archive state set");
    Ok(Json(v))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmptyBody {}

/// `DELETE /permissions/{permissionId}` (user action; `Permissions:Delete`): the permission
/// and its assignments are removed. Answers 204 with no body (Dfns documents none).
pub async fn delete(
    State(app): State<AppState>,
    path: Segments,
    Signed { caller, body }: Signed,
) -> Result<StatusCode, ApiError> {
    let id = path.get(0)?;
    let mut inner = app.lock();
    require(&inner.state, &caller, ops::PERMISSIONS_DELETE)?;
    let _: EmptyBody = parse_optional_json(&body, "DeletePermission body (empty or {})")?;
    let p = inner.state.permission(id).ok_or_else(|| not_found(id))?;
    if p.is_immutable {
        return Err(immutable(&format!("permission {id} ({})", p.name)));
    }
    let before = inner.state.clone();
    inner.state.permissions.retain(|p| p.id != id);
    inner.state.assignments.retain(|a| a.permission_id != id);
    commit(&app, &mut inner, before)?;
    tracing::info!(permission = %id, "permission deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AssignBody {
    identity_id: String,
}

/// `POST /permissions/{permissionId}/assignments` with `{identityId}` (user action;
/// `Permissions:Assign`).
pub async fn assign(
    State(app): State<AppState>,
    path: Segments,
    Signed { caller, body }: Signed,
) -> Result<Json<Value>, ApiError> {
    let id = path.get(0)?;
    let mut inner = app.lock();
    require(&inner.state, &caller, ops::PERMISSIONS_ASSIGN)?;
    let req: AssignBody = parse_json(&body, "CreateAssignmentBody")?;
    assignable(&inner.state, id)?;
    if inner.state.live_user(&req.identity_id).is_none() {
        return Err(ApiError::not_found(
            "identity_not_found",
            format!(
                "identity {} not found (a user or service account id, us-…)",
                req.identity_id
            ),
        ));
    }
    if inner
        .state
        .assignments
        .iter()
        .any(|a| a.permission_id == id && a.identity_id == req.identity_id)
    {
        return Err(ApiError::conflict(
            "assignment_conflict",
            format!("permission {id} is already assigned to {}", req.identity_id),
        ));
    }
    let assignment = new_assignment(id, &req.identity_id);
    let before = inner.state.clone();
    inner.state.assignments.push(assignment.clone());
    commit(&app, &mut inner, before)?;
    tracing::info!(permission = %id, identity = %req.identity_id, assignment = %assignment.id, "permission assigned");
    Ok(Json(assignment_view(&assignment)))
}

/// `GET /permissions/{permissionId}/assignments` (`Permissions:Assignments:Read`).
pub async fn list_assignments(
    State(app): State<AppState>,
    caller: Caller,
    path: Segments,
    query: QueryResult,
) -> Result<Json<Value>, ApiError> {
    let id = path.get(0)?;
    let inner = app.lock();
    require(&inner.state, &caller, ops::PERMISSIONS_ASSIGNMENTS_READ)?;
    inner.state.permission(id).ok_or_else(|| not_found(id))?;
    let of_it: Vec<&Assignment> = inner
        .state
        .assignments
        .iter()
        .filter(|a| a.permission_id == id)
        .collect();
    page(&of_it, query, |a| &a.id, |a| assignment_view(a)).map(Json)
}

/// Query of the revoke endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeQuery {
    #[serde(default)]
    force: Option<String>,
}

/// `DELETE /permissions/{permissionId}/assignments/{assignmentId}[?force=…]` (user action;
/// `Permissions:Revoke`). Answers 204 with no body (Dfns's SDKs expect none). `force` is
/// accepted and, with no approval policies on permissions, changes nothing.
pub async fn revoke(
    State(app): State<AppState>,
    path: Segments,
    query: Result<Query<RevokeQuery>, axum::extract::rejection::QueryRejection>,
    Signed { caller, body }: Signed,
) -> Result<StatusCode, ApiError> {
    let (id, assignment_id) = (path.get(0)?, path.get(1)?);
    let Query(query) = query.map_err(|e| {
        ApiError::bad_request("invalid_query", format!("invalid query string: {e}"))
    })?;
    if !matches!(query.force.as_deref(), None | Some("true") | Some("false")) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "force must be true or false",
        ));
    }
    let mut inner = app.lock();
    require(&inner.state, &caller, ops::PERMISSIONS_REVOKE)?;
    let _: EmptyBody = parse_optional_json(&body, "DeleteAssignment body (empty or {})")?;
    inner.state.permission(id).ok_or_else(|| not_found(id))?;
    let a = inner
        .state
        .assignments
        .iter()
        .find(|a| a.id == assignment_id && a.permission_id == id)
        .ok_or_else(|| {
            ApiError::not_found(
                "assignment_not_found",
                format!("assignment {assignment_id} of permission {id} not found"),
            )
        })?;
    if a.is_immutable {
        return Err(immutable(&format!("assignment {assignment_id}")));
    }
    let before = inner.state.clone();
    inner.state.assignments.retain(|a| a.id != assignment_id);
    commit(&app, &mut inner, before)?;
    tracing::info!(permission = %id, assignment = %assignment_id, "assignment revoked");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_names_are_checked_and_deduplicated() {
        let ok = operations(vec![
            "Auth:ServiceAccounts:Read".into(),
            "Permissions:Read".into(),
            "Auth:ServiceAccounts:Read".into(),
        ])
        .expect("valid");
        assert_eq!(ok, ["Auth:ServiceAccounts:Read", "Permissions:Read"]);
        for bad in [
            "",
            "Read",
            "auth:read",
            "Auth::Read",
            "Auth:Read:",
            "Auth:Re ad",
        ] {
            assert!(operations(vec![bad.into()]).is_err(), "{bad:?}");
        }
        assert!(operations(vec![]).is_err());
    }

    #[test]
    fn the_owner_holds_every_enforced_operation() {
        let (p, a) = owner("us-admin");
        assert!(p.is_immutable && a.is_immutable);
        assert_eq!(p.operations.len(), ops::ALL.len());
        assert_eq!(a.permission_id, p.id);
    }
}
