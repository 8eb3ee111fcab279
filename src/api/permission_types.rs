//! Permission request and response types (`/permissions`, from Dfns's API reference).
//!
//! Read leniently like the service-account types: unknown fields land in `extra`, missing
//! ones get their default; only the `id` is required.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Body of `POST /permissions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreatePermission {
    /// Name of the permission.
    pub name: String,
    /// The operations it allows, e.g. `Auth:ServiceAccounts:Read`.
    pub operations: Vec<String>,
}

/// Body of `PUT /permissions/{permissionId}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdatePermission {
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New list of operations (replaces the old one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operations: Option<Vec<String>>,
}

/// Body of `POST /permissions/{permissionId}/assignments`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AssignPermission {
    /// The user, service account or personal access token that receives the permission.
    pub identity_id: String,
}

/// A permission: a named set of operations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Permission {
    /// Permission id (`pm-...`).
    pub id: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// The operations it allows.
    #[serde(default)]
    pub operations: Vec<String>,
    /// Status (`Active`, ...).
    #[serde(default)]
    pub status: String,
    /// Whether it can be changed at all (an organization's owner permission cannot).
    #[serde(default)]
    pub is_immutable: bool,
    /// Whether it is archived.
    #[serde(default)]
    pub is_archived: bool,
    /// Creation date (ISO 8601).
    #[serde(default)]
    pub date_created: String,
    /// Date of the last change (ISO 8601).
    #[serde(default)]
    pub date_updated: String,
    /// Fields this version does not model (e.g. `pendingChangeRequest`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Response of `GET /permissions` (all pages, when read by [`super::Permissions::list`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionList {
    /// The permissions.
    #[serde(default)]
    pub items: Vec<Permission>,
    /// Token of the next page, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An assignment: a permission held by an identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Assignment {
    /// Assignment id (`as-...`).
    pub id: String,
    /// The permission (`pm-...`).
    #[serde(default)]
    pub permission_id: String,
    /// The identity holding it (`us-...`, a token id, ...).
    #[serde(default)]
    pub identity_id: String,
    /// Whether it can be revoked at all.
    #[serde(default)]
    pub is_immutable: bool,
    /// Creation date (ISO 8601).
    #[serde(default)]
    pub date_created: String,
    /// Date of the last change (ISO 8601).
    #[serde(default)]
    pub date_updated: String,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Response of `GET /permissions/{permissionId}/assignments`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentList {
    /// The assignments.
    #[serde(default)]
    pub items: Vec<Assignment>,
    /// Token of the next page, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_permission_and_keeps_unknown_fields() {
        let p: Permission = serde_json::from_str(
            r#"{"id":"pm-1","name":"ops","operations":["Auth:ServiceAccounts:Read"],
                "status":"Active","isImmutable":false,"isArchived":false,
                "dateCreated":"2026-01-01T00:00:00Z","dateUpdated":"2026-01-01T00:00:00Z",
                "pendingChangeRequest":{"id":"cr-1"}}"#,
        )
        .expect("parse");
        assert_eq!(p.operations, ["Auth:ServiceAccounts:Read"]);
        assert!(p.extra.contains_key("pendingChangeRequest"));
        assert!(serde_json::from_str::<Permission>(r#"{"name":"x"}"#).is_err());
        let a: Assignment =
            serde_json::from_str(r#"{"id":"as-1","permissionId":"pm-1","identityId":"us-1"}"#)
                .expect("parse");
        assert_eq!(a.identity_id, "us-1");
    }

    #[test]
    fn request_bodies_serialize_as_the_reference_names_them() {
        let c = CreatePermission {
            name: "ops".into(),
            operations: vec!["Permissions:Read".into()],
        };
        assert_eq!(
            serde_json::to_string(&c).expect("json"),
            r#"{"name":"ops","operations":["Permissions:Read"]}"#
        );
        let a = AssignPermission {
            identity_id: "us-1".into(),
        };
        assert_eq!(
            serde_json::to_string(&a).expect("json"),
            r#"{"identityId":"us-1"}"#
        );
        let u = UpdatePermission {
            name: None,
            operations: Some(vec![]),
        };
        assert_eq!(
            serde_json::to_string(&u).expect("json"),
            r#"{"operations":[]}"#
        );
    }
}
