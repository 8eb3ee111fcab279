//! The signing service's tables: `[serve]`, `[[listen]]`, `[[identity]]` and `[[client]]`.
//!
//! They sit in the same profile as `[hsm]` and `[dfns]` (other commands ignore them), so one
//! file configures the service. Checked as strictly as the rest: an unknown key is an error.

use std::path::PathBuf;

use serde::Deserialize;

/// Connections served at once, unless `[serve] max_connections` says otherwise.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// Milliseconds a request's head may take to arrive, unless set.
pub const DEFAULT_HEADER_TIMEOUT_MS: u64 = 5_000;
/// Seconds in-flight requests get to finish after SIGTERM, unless set.
pub const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 10;

/// `[serve]`: limits of the service.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeSettings {
    /// Connections served at once over all listeners; more wait in the backlog.
    pub max_connections: Option<usize>,
    /// A request's head must arrive within this many milliseconds.
    pub header_timeout_ms: Option<u64>,
    /// Seconds in-flight requests get to finish on SIGTERM.
    pub shutdown_grace_secs: Option<u64>,
}

/// One `[[listen]]` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenSettings {
    /// `unix:PATH` or `tcp:HOST:PORT`.
    pub address: String,
    /// Unix socket mode, octal as a string (default `"0600"`).
    pub mode: Option<String>,
    /// Unix socket group (name or number).
    pub group: Option<String>,
    /// TLS certificate chain (PEM), for TCP.
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM), for TCP.
    pub tls_key: Option<PathBuf>,
    /// CA certificates (PEM) client certificates must chain to; when set, TLS clients must
    /// present one.
    pub tls_client_ca: Option<PathBuf>,
}

/// One `[[identity]]` entry: a Dfns credential whose key is on the HSM.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentitySettings {
    /// The name clients and the audit log use (unique).
    pub name: String,
    /// The Dfns credential id the key is registered under.
    pub cred_id: String,
    /// The key: a label or a `pkcs11:` URI.
    pub key: String,
    /// The identity's Dfns token (a 0600 file or a `pkcs11:` URI of a private data object),
    /// needed only for the proxy.
    pub auth_token_file: Option<PathBuf>,
}

/// One `[[client]]` entry: who may use which identities and proxy routes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSettings {
    /// The name the audit log and metrics use (unique).
    pub name: String,
    /// The file holding this client's bearer token (0600). Absent: the entry for unix-socket
    /// connections that present no token.
    pub token_file: Option<PathBuf>,
    /// Identities (by name) this client may sign with.
    #[serde(default)]
    pub identities: Vec<String>,
    /// Proxy routes, `"METHOD /path/pattern"`; `*` matches one path segment.
    #[serde(default)]
    pub allow: Vec<String>,
}
