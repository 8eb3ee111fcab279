//! The persisted organization: users (the admin and service accounts), their Key credentials
//! and access tokens, permissions and their assignments, and the token-signing key. Saved as
//! `DIR/state.json` (mode 0600).

use std::fs;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::files;
use crate::token::TokenKey;

/// File name of the state inside the state dir.
pub const STATE_FILE: &str = "state.json";
/// Schema version written to `state.json` (2: permissions and assignments).
const VERSION: u32 = 2;

/// Everything that survives a restart.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct State {
    /// Schema version of this file.
    pub version: u32,
    /// HS256 key for every token the emulator mints, standard base64.
    pub token_key: String,
    /// The one organization (`or-…`).
    pub org_id: String,
    /// The organization's (legacy) application id, echoed as `linkedAppId`.
    pub app_id: String,
    /// Id of the bootstrap admin user.
    pub admin_user_id: String,
    /// All users, admin first; archived service accounts stay here, marked.
    pub users: Vec<User>,
    /// Every permission, the bootstrap owner permission first; deleted ones are removed.
    pub permissions: Vec<Permission>,
    /// Every live assignment of a permission to an identity; revoked ones are removed.
    pub assignments: Vec<Assignment>,
}

/// A named set of operations (`pm-…`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Permission {
    /// `pm-…`.
    pub id: String,
    /// Display name (unique among permissions).
    pub name: String,
    /// Operation names, e.g. `Auth:ServiceAccounts:Read`.
    pub operations: Vec<String>,
    /// True for the bootstrap owner permission: it cannot be changed, archived or deleted.
    pub is_immutable: bool,
    /// An archived permission grants nothing and cannot be assigned; its assignments stay.
    pub is_archived: bool,
    /// Creation time, RFC 3339.
    pub date_created: String,
    /// Last change, RFC 3339.
    pub date_updated: String,
}

/// A permission held by an identity (`as-…`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Assignment {
    /// `as-…`.
    pub id: String,
    /// The permission (`pm-…`).
    pub permission_id: String,
    /// The user or service account holding it (`us-…`).
    pub identity_id: String,
    /// True for the admin's owner assignment: it cannot be revoked.
    pub is_immutable: bool,
    /// Creation time, RFC 3339.
    pub date_created: String,
    /// Last change, RFC 3339.
    pub date_updated: String,
}

/// An organization user or a service account.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct User {
    /// `us-…`.
    pub user_id: String,
    /// Display name (unique among live service accounts).
    pub name: String,
    /// Username (the admin's email-like name; a service account's name).
    pub username: String,
    /// Always `CustomerEmployee` here.
    pub kind: String,
    /// True for service accounts.
    pub is_service_account: bool,
    /// False once deactivated; its token then stops authenticating.
    pub is_active: bool,
    /// True once archived (deleted): gone from list/get, cannot authenticate, name is free again.
    pub archived: bool,
    /// Optional caller-chosen correlation id.
    pub external_id: Option<String>,
    /// The single Key credential of this user.
    pub credential: Credential,
    /// The single long-lived access token of this user.
    pub token: AccessToken,
    /// Creation time, RFC 3339.
    pub date_created: String,
}

/// A Key credential: the public key that signs this user's actions.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Credential {
    /// Opaque credential id clients pass as `credId`.
    pub cred_id: String,
    /// `cr-…`, echoed as `credentialUuid`.
    pub credential_uuid: String,
    /// The PEM exactly as registered.
    pub public_key: String,
    /// Creation time, RFC 3339.
    pub date_created: String,
}

/// A long-lived bearer token (its JWT is never stored, only its id and expiry).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessToken {
    /// `to-…`, the JWT's `jti`.
    pub token_id: String,
    /// Expiry of the minted JWT, Unix seconds.
    pub expires_at: u64,
    /// Creation time, RFC 3339.
    pub date_created: String,
}

impl State {
    /// The token-signing key.
    pub fn token_key(&self) -> Result<TokenKey, String> {
        STANDARD
            .decode(&self.token_key)
            .map(TokenKey::new)
            .map_err(|e| format!("{STATE_FILE}: tokenKey is not base64: {e}"))
    }

    /// A live (not archived) user by id.
    pub fn live_user(&self, user_id: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.user_id == user_id && !u.archived)
    }

    /// A permission by id (archived ones included).
    pub fn permission(&self, id: &str) -> Option<&Permission> {
        self.permissions.iter().find(|p| p.id == id)
    }

    /// The assignments held by `identity_id`, with their permissions.
    pub fn assignments_of<'a>(
        &'a self,
        identity_id: &'a str,
    ) -> impl Iterator<Item = (&'a Assignment, &'a Permission)> + 'a {
        self.assignments
            .iter()
            .filter(move |a| a.identity_id == identity_id)
            .filter_map(move |a| self.permission(&a.permission_id).map(|p| (a, p)))
    }

    /// Whether `identity_id` holds `operation` through a permission that is not archived.
    pub fn grants(&self, identity_id: &str, operation: &str) -> bool {
        self.assignments_of(identity_id)
            .any(|(_, p)| !p.is_archived && p.operations.iter().any(|o| o == operation))
    }

    /// A live (not archived) service account by id, mutable.
    pub fn live_service_account_mut(&mut self, user_id: &str) -> Option<&mut User> {
        self.users
            .iter_mut()
            .find(|u| u.user_id == user_id && u.is_service_account && !u.archived)
    }
}

/// `state.json` inside `dir`.
pub fn state_path(dir: &Path) -> PathBuf {
    dir.join(STATE_FILE)
}

/// A fresh state for a new organization (no users yet).
pub fn new_state(token_key: &TokenKey, org_id: String, app_id: String) -> State {
    State {
        version: VERSION,
        token_key: STANDARD.encode(token_key.bytes()),
        org_id,
        app_id,
        admin_user_id: String::new(),
        users: Vec::new(),
        permissions: Vec::new(),
        assignments: Vec::new(),
    }
}

/// Load `DIR/state.json`; `Ok(None)` when it does not exist yet.
pub fn load(dir: &Path) -> Result<Option<State>, String> {
    let path = state_path(dir);
    let text = match fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let invalid =
        |e: serde_json::Error| format!("{} is not a valid emulator state: {e}", path.display());
    let value: serde_json::Value = serde_json::from_slice(&text).map_err(invalid)?;
    // The version first: an older file lacks fields this version requires.
    let version = value.get("version").and_then(serde_json::Value::as_u64);
    if version != Some(u64::from(VERSION)) {
        return Err(format!(
            "{} has version {}, this emulator reads version {VERSION}; use a fresh --state-dir",
            path.display(),
            version.map_or_else(|| "none".to_owned(), |v| v.to_string())
        ));
    }
    let state: State = serde_json::from_value(value).map_err(invalid)?;
    Ok(Some(state))
}

/// Save atomically to `DIR/state.json` (mode 0600), without `fsync` (see [`files::replace`]).
pub fn save(dir: &Path, state: &State) -> Result<(), String> {
    let bytes = serde_json::to_vec_pretty(state).map_err(|e| format!("serialize state: {e}"))?;
    let path = state_path(dir);
    files::replace(&path, &bytes, files::PRIVATE)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
