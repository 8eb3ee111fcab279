//! Service-account request and response types (the spec's schemas).
//!
//! Responses are read leniently: a field Dfns adds later lands in `extra`, and a field the spec
//! marks required but a server omits gets its default (empty string, `false`, empty list)
//! rather than failing the call. That matters most for create: its response carries the only
//! copy of the new account's token, so it must never be dropped over a missing field. Only
//! `userInfo.userId` is truly required: without it the account cannot be addressed.
//! Enumerations (`kind`) are plain strings for the same reason.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::auth_token::AuthToken;

/// Body of `POST /auth/service-accounts`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateServiceAccount {
    /// Unique name within the organization.
    pub name: String,
    /// The account's public key, SPKI PEM (`-----BEGIN PUBLIC KEY-----`).
    pub public_key: String,
    /// Permission to assign (`pm-...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_id: Option<String>,
    /// Your own correlation id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Token lifetime in days (positive; older docs give 730 as the maximum).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_valid: Option<u32>,
}

/// Body of `PUT /auth/service-accounts/{serviceAccountId}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateServiceAccount {
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New external id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

/// Response of `GET /auth/service-accounts`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceAccountList {
    /// The organization's service accounts (the endpoint is not paginated).
    #[serde(default)]
    pub items: Vec<ServiceAccount>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A service account: its user and its access tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccount {
    /// The machine user.
    pub user_info: UserInfo,
    /// Its tokens (one for a classic service account).
    #[serde(default)]
    pub access_tokens: Vec<AccessToken>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ServiceAccount {
    /// The service account id (its user id, `us-...`), used in paths.
    pub fn id(&self) -> &str {
        &self.user_info.user_id
    }

    /// The bearer token, present only in the create response.
    pub fn access_token(&self) -> Option<&AuthToken> {
        self.access_tokens
            .iter()
            .find_map(|t| t.access_token.as_ref())
    }

    /// The account's `externalId`, where the server shows one (`userInfo.externalId`, or a
    /// top-level `externalId`).
    pub fn external_id(&self) -> Option<&str> {
        self.user_info
            .extra
            .get("externalId")
            .or_else(|| self.extra.get("externalId"))
            .and_then(Value::as_str)
    }

    /// The Key credential id to sign user actions with (the first non-empty `credId`).
    pub fn cred_id(&self) -> Option<&str> {
        self.access_tokens
            .iter()
            .map(|t| t.cred_id.as_str())
            .find(|c| !c.is_empty())
    }
}

/// `userInfo` of a service account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserInfo {
    /// The user id (`us-...`): the service account id.
    pub user_id: String,
    /// Username.
    #[serde(default)]
    pub username: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// User kind (`CustomerEmployee`, `EndUser`, ...).
    #[serde(default)]
    pub kind: String,
    /// The credential's UUID.
    #[serde(default)]
    pub credential_uuid: String,
    /// Organization id.
    #[serde(default)]
    pub org_id: String,
    /// Permission names, when Dfns lists them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<String>>,
    /// Whether the account is active.
    #[serde(default)]
    pub is_active: bool,
    /// Always true for a service account.
    #[serde(default)]
    pub is_service_account: bool,
    /// Whether registration completed.
    #[serde(default)]
    pub is_registered: bool,
    /// Assigned permissions.
    #[serde(default)]
    pub permission_assignments: Vec<PermissionAssignment>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An access token of a service account.
///
/// `access_token` (the secret) is never serialized and is redacted in `Debug`: write it to a
/// token file with [`AuthToken::expose_secret`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessToken {
    /// The bearer token; only in the create response.
    #[serde(default, skip_serializing)]
    pub access_token: Option<AuthToken>,
    /// Token id (`to-...`).
    #[serde(default)]
    pub token_id: String,
    /// The Key credential id bound to this token.
    #[serde(default)]
    pub cred_id: String,
    /// Creation date (ISO 8601).
    #[serde(default)]
    pub date_created: String,
    /// Whether the token is active.
    #[serde(default)]
    pub is_active: bool,
    /// Token kind (`ServiceAccount`, `Pat`, ...).
    #[serde(default)]
    pub kind: String,
    /// The user the token acts as.
    #[serde(default)]
    pub linked_user_id: String,
    /// The (deprecated) application it is linked to.
    #[serde(default)]
    pub linked_app_id: String,
    /// Token name.
    #[serde(default)]
    pub name: String,
    /// Organization id.
    #[serde(default)]
    pub org_id: String,
    /// Assigned permissions.
    #[serde(default)]
    pub permission_assignments: Vec<PermissionAssignment>,
    /// The public key as Dfns reports it (often a fingerprint, not the PEM).
    #[serde(default)]
    pub public_key: String,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A permission assigned to a user or token.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionAssignment {
    /// Permission name.
    #[serde(default)]
    pub permission_name: String,
    /// Permission id (`pm-...`).
    #[serde(default)]
    pub permission_id: String,
    /// Assignment id.
    #[serde(default)]
    pub assignment_id: String,
    /// Operations the permission grants, when listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operations: Option<Vec<String>>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREATED: &str = r#"{
      "userInfo": {"username":"bot","name":"bot","userId":"us-1","kind":"CustomerEmployee",
        "credentialUuid":"cr-1","orgId":"or-1","isActive":true,"isServiceAccount":true,
        "isRegistered":true,"permissionAssignments":[],"tenantId":"tn-1"},
      "accessTokens": [{"accessToken":"eyJ.eyJ.c2ln","dateCreated":"2026-01-01T00:00:00Z",
        "credId":"Y2ktMQ","isActive":true,"kind":"ServiceAccount","linkedUserId":"us-1",
        "linkedAppId":"ap-1","name":"bot","orgId":"or-1","permissionAssignments":[
          {"permissionName":"Admin","permissionId":"pm-1","assignmentId":"as-1","x":1}],
        "publicKey":"SHA256:abc","tokenId":"to-1","accountId":"acct-1"}],
      "future": true
    }"#;

    #[test]
    fn parses_a_create_response_and_keeps_unknown_fields() {
        let sa: ServiceAccount = serde_json::from_str(CREATED).expect("parse");
        assert_eq!(sa.id(), "us-1");
        assert_eq!(sa.cred_id(), Some("Y2ktMQ"));
        assert_eq!(
            sa.access_token().map(AuthToken::expose_secret),
            Some("eyJ.eyJ.c2ln")
        );
        assert!(sa.extra.contains_key("future"));
        assert!(sa.user_info.extra.contains_key("tenantId"));
        assert!(sa.access_tokens[0].extra.contains_key("accountId"));
        assert!(sa.access_tokens[0].permission_assignments[0]
            .extra
            .contains_key("x"));
    }

    #[test]
    fn the_token_never_leaves_through_debug_or_serialize() {
        let sa: ServiceAccount = serde_json::from_str(CREATED).expect("parse");
        assert!(!format!("{sa:?}").contains("eyJ.eyJ.c2ln"));
        let json = serde_json::to_string(&sa).expect("serialize");
        assert!(!json.contains("eyJ.eyJ.c2ln"));
        assert!(json.contains("\"tokenId\":\"to-1\""));
    }

    #[test]
    fn missing_fields_default_except_the_user_id() {
        let sa: ServiceAccount =
            serde_json::from_str(r#"{"userInfo":{"userId":"us-2"}}"#).expect("parse");
        assert_eq!(sa.id(), "us-2");
        assert!(sa.access_tokens.is_empty() && sa.cred_id().is_none());
        assert!(serde_json::from_str::<ServiceAccount>(r#"{"userInfo":{}}"#).is_err());
        let list: ServiceAccountList = serde_json::from_str(r#"{"items":[]}"#).expect("parse");
        assert!(list.items.is_empty());
    }

    #[test]
    fn request_bodies_serialize_as_the_spec_names_them() {
        let body = CreateServiceAccount {
            name: "bot".into(),
            public_key: "-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----\n".into(),
            permission_id: Some("pm-1".into()),
            external_id: None,
            days_valid: Some(30),
        };
        assert_eq!(
            serde_json::to_string(&body).expect("json"),
            r#"{"name":"bot","publicKey":"-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----\n","permissionId":"pm-1","daysValid":30}"#
        );
        let upd = UpdateServiceAccount {
            name: None,
            external_id: Some("e".into()),
        };
        assert_eq!(
            serde_json::to_string(&upd).expect("json"),
            r#"{"externalId":"e"}"#
        );
    }
}
