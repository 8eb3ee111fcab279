//! Typed permission calls (`/permissions`, Dfns's API reference "Permissions").
//!
//! Reads return the value (lists follow `nextPageToken` to the end); mutations return an
//! [`Outcome`], since a Dfns policy may hold them for approval (HTTP 202, e.g. an assignment
//! waiting on a change request).
//!
//! Reconciliation, when a mutation may have been carried out but no answer came back:
//!
//! | call | in effect when |
//! |---|---|
//! | create | the list holds a permission with the requested name and operations |
//! | update | `get` shows the requested name and operations |
//! | archive | `get` shows the requested `isArchived` |
//! | delete | `get` answers 404 |
//! | assign | the permission's assignments hold one for the identity |
//! | revoke | the permission's assignments no longer hold the assignment |
//!
//! Dfns documents no body for delete and revoke: their results are `()`.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::Method;

use super::body::RequestBody;
use super::client::DfnsClient;
use super::error::ApiError;
use super::outcome::Outcome;
use super::permission_types::{
    AssignPermission, Assignment, AssignmentList, CreatePermission, Permission, PermissionList,
    UpdatePermission,
};
use super::retry::{Check, Settled};
use super::target::RequestTarget;

const BASE: &str = "/permissions";
/// Most pages a list follows (a loop guard against a server that never ends a list).
const MAX_PAGES: usize = 1000;

/// Characters left as they are in a path segment or query value (RFC 3986 unreserved).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

impl DfnsClient {
    /// Permission calls.
    pub fn permissions(&self) -> Permissions<'_> {
        Permissions { client: self }
    }
}

/// Permission calls of a [`DfnsClient`].
#[derive(Debug, Clone, Copy)]
pub struct Permissions<'a> {
    client: &'a DfnsClient,
}

/// A page of a list: its items and the next page's token.
trait Page: serde::de::DeserializeOwned + Default {
    type Item;
    fn take(self) -> (Vec<Self::Item>, Option<String>);
    fn from_items(items: Vec<Self::Item>) -> Self;
}

impl Page for PermissionList {
    type Item = Permission;
    fn take(self) -> (Vec<Permission>, Option<String>) {
        (self.items, self.next_page_token)
    }
    fn from_items(items: Vec<Permission>) -> Self {
        PermissionList {
            items,
            ..Default::default()
        }
    }
}

impl Page for AssignmentList {
    type Item = Assignment;
    fn take(self) -> (Vec<Assignment>, Option<String>) {
        (self.items, self.next_page_token)
    }
    fn from_items(items: Vec<Assignment>) -> Self {
        AssignmentList {
            items,
            ..Default::default()
        }
    }
}

impl<'a> Permissions<'a> {
    /// `GET /permissions`, every page: the organization's permissions.
    pub async fn list(&self) -> Result<PermissionList, ApiError> {
        self.all_pages(BASE.to_owned()).await
    }

    /// `GET /permissions/{permissionId}`.
    pub async fn get(&self, id: &str) -> Result<Permission, ApiError> {
        self.client.read(&permission(id, "")?).await
    }

    /// `GET /permissions/{permissionId}/assignments`, every page.
    pub async fn assignments(&self, id: &str) -> Result<AssignmentList, ApiError> {
        let path = permission(id, "/assignments")?.path().to_owned();
        self.all_pages(path).await
    }

    /// `POST /permissions` (user action).
    pub async fn create(
        &self,
        request: &CreatePermission,
    ) -> Result<Outcome<Permission>, ApiError> {
        if request.name.is_empty() {
            return Err(ApiError::InvalidRequest(
                "a permission needs a non-empty name".into(),
            ));
        }
        if request.operations.is_empty() {
            return Err(ApiError::InvalidRequest(
                "a permission needs at least one operation".into(),
            ));
        }
        let body = RequestBody::json(request).map_err(ApiError::InvalidRequest)?;
        let this = *self;
        let target = RequestTarget::from_parts(BASE.to_owned(), None);
        let settled = self
            .client
            .mutate_reconciled(Method::POST, &target, Some(&body), move || {
                this.find_created(request)
            })
            .await?;
        Ok(settle(settled))
    }

    /// `PUT /permissions/{permissionId}` (user action).
    pub async fn update(
        &self,
        id: &str,
        request: &UpdatePermission,
    ) -> Result<Outcome<Permission>, ApiError> {
        let body = RequestBody::json(request).map_err(ApiError::InvalidRequest)?;
        let this = *self;
        let settled = self
            .client
            .mutate_reconciled(Method::PUT, &permission(id, "")?, Some(&body), move || {
                this.check_updated(id, request)
            })
            .await?;
        Ok(settle(settled))
    }

    /// `PUT /permissions/{permissionId}/archive` with `{"isArchived": archived}` (user
    /// action): archive, or with `false` unarchive.
    pub async fn archive(&self, id: &str, archived: bool) -> Result<Outcome<Permission>, ApiError> {
        let body = RequestBody::from(serde_json::json!({ "isArchived": archived }));
        let this = *self;
        let target = permission(id, "/archive")?;
        let settled = self
            .client
            .mutate_reconciled(Method::PUT, &target, Some(&body), move || {
                this.check_archived(id, archived)
            })
            .await?;
        Ok(settle(settled))
    }

    /// `DELETE /permissions/{permissionId}` (user action, no body).
    pub async fn delete(&self, id: &str) -> Result<Outcome<()>, ApiError> {
        let this = *self;
        let settled = self
            .client
            .mutate_reconciled_unit(Method::DELETE, &permission(id, "")?, None, move || {
                this.check_deleted(id)
            })
            .await?;
        Ok(settle(settled))
    }

    /// `POST /permissions/{permissionId}/assignments` with `{"identityId"}` (user action):
    /// give the permission to a user, service account or personal access token.
    pub async fn assign(
        &self,
        id: &str,
        identity_id: &str,
    ) -> Result<Outcome<Assignment>, ApiError> {
        if identity_id.is_empty() {
            return Err(ApiError::InvalidRequest(
                "an assignment needs a non-empty identity id".into(),
            ));
        }
        let request = AssignPermission {
            identity_id: identity_id.to_owned(),
        };
        let body = RequestBody::json(&request).map_err(ApiError::InvalidRequest)?;
        let this = *self;
        let target = permission(id, "/assignments")?;
        let settled = self
            .client
            .mutate_reconciled(Method::POST, &target, Some(&body), move || {
                this.find_assignment(id, identity_id)
            })
            .await?;
        Ok(settle(settled))
    }

    /// `DELETE /permissions/{permissionId}/assignments/{assignmentId}` (user action, no
    /// body): take the permission away again. `force` adds `?force=true`.
    pub async fn revoke(
        &self,
        id: &str,
        assignment_id: &str,
        force: bool,
    ) -> Result<Outcome<()>, ApiError> {
        let path = permission(id, "/assignments/")?.path().to_owned();
        let target = RequestTarget::from_parts(
            format!("{path}{}", segment(assignment_id, "assignment")?),
            force.then(|| "force=true".to_owned()),
        );
        let this = *self;
        let settled = self
            .client
            .mutate_reconciled_unit(Method::DELETE, &target, None, move || {
                this.check_revoked(id, assignment_id)
            })
            .await?;
        Ok(settle(settled))
    }

    /// Read every page of the list at `path`.
    async fn all_pages<L: Page>(&self, path: String) -> Result<L, ApiError> {
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let query = token
                .as_deref()
                .map(|t| format!("paginationToken={}", utf8_percent_encode(t, UNRESERVED)));
            let page: L = self
                .client
                .read(&RequestTarget::from_parts(path.clone(), query))
                .await?;
            let (mut got, next) = page.take();
            items.append(&mut got);
            match next.filter(|n| !n.is_empty()) {
                Some(n) if token.as_deref() != Some(n.as_str()) => token = Some(n),
                _ => return Ok(L::from_items(items)),
            }
        }
        Err(ApiError::InvalidRequest(format!(
            "{path} still had more pages after {MAX_PAGES}"
        )))
    }

    async fn find_created(self, request: &CreatePermission) -> Result<Check<Permission>, ApiError> {
        let list = self.list().await?;
        let found = list.items.into_iter().find(|p| {
            p.name == request.name && same_operations(&p.operations, &request.operations)
        });
        Ok(found.map_or(Check::NotApplied, Check::Applied))
    }

    async fn check_updated(
        self,
        id: &str,
        request: &UpdatePermission,
    ) -> Result<Check<Permission>, ApiError> {
        let now = self.get(id).await?;
        let name_ok = request.name.as_ref().map_or(true, |n| *n == now.name);
        let ops_ok = request
            .operations
            .as_ref()
            .map_or(true, |o| same_operations(&now.operations, o));
        Ok(if name_ok && ops_ok {
            Check::Applied(now)
        } else {
            Check::NotApplied
        })
    }

    async fn check_archived(self, id: &str, archived: bool) -> Result<Check<Permission>, ApiError> {
        let now = self.get(id).await?;
        Ok(if now.is_archived == archived {
            Check::Applied(now)
        } else {
            Check::NotApplied
        })
    }

    async fn check_deleted(self, id: &str) -> Result<Check<()>, ApiError> {
        match self.get(id).await {
            Ok(_) => Ok(Check::NotApplied),
            Err(e) if e.status() == Some(404) => Ok(Check::Applied(())),
            Err(e) => Err(e),
        }
    }

    async fn find_assignment(
        self,
        id: &str,
        identity_id: &str,
    ) -> Result<Check<Assignment>, ApiError> {
        let list = self.assignments(id).await?;
        let found = list
            .items
            .into_iter()
            .find(|a| a.identity_id == identity_id);
        Ok(found.map_or(Check::NotApplied, Check::Applied))
    }

    async fn check_revoked(self, id: &str, assignment_id: &str) -> Result<Check<()>, ApiError> {
        let list = self.assignments(id).await?;
        Ok(if list.items.iter().any(|a| a.id == assignment_id) {
            Check::NotApplied
        } else {
            Check::Applied(())
        })
    }
}

/// The outcome of a reconciled mutation: as answered, or as the check read it.
fn settle<T>(settled: Settled<T>) -> Outcome<T> {
    match settled {
        Settled::Answered(outcome) => outcome,
        Settled::Reconciled { value, .. } => Outcome::Done(value),
    }
}

/// Whether two operation lists hold the same operations (order and repeats aside).
fn same_operations(a: &[String], b: &[String]) -> bool {
    a.iter().all(|x| b.contains(x)) && b.iter().all(|x| a.contains(x))
}

/// One id as a percent-encoded path segment.
fn segment(id: &str, what: &str) -> Result<String, ApiError> {
    if id.is_empty() || id == "." || id == ".." {
        return Err(ApiError::InvalidRequest(format!(
            "{id:?} is not a {what} id"
        )));
    }
    Ok(utf8_percent_encode(id, UNRESERVED).to_string())
}

/// `/permissions/{id}{suffix}`.
fn permission(id: &str, suffix: &str) -> Result<RequestTarget, ApiError> {
    let id = segment(id, "permission (pm-...)")?;
    Ok(RequestTarget::from_parts(
        format!("{BASE}/{id}{suffix}"),
        None,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_one_encoded_segment() {
        let t = permission("pm-1/../x", "/assignments").expect("target");
        assert_eq!(t.path(), "/permissions/pm-1%2F..%2Fx/assignments");
        assert!(permission("", "").is_err());
        assert!(permission("..", "").is_err());
        assert!(segment("as-1?x", "assignment").is_ok_and(|s| s == "as-1%3Fx"));
    }

    #[test]
    fn operations_compare_as_sets() {
        let v = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        assert!(same_operations(&v(&["A:B", "C:D"]), &v(&["C:D", "A:B"])));
        assert!(!same_operations(&v(&["A:B"]), &v(&["A:B", "C:D"])));
    }
}
