//! What the service serves with: its identities (keys on the HSM, their Dfns tokens) and its
//! clients (who may use which identity and route). Built at start and again on SIGHUP.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use sha2::{Digest as _, Sha256};

use super::keyring::Keyring;
use super::metered::MeteredSigner;
use super::metrics::Metrics;
use super::policy::Route;
use crate::api::{AuthToken, DfnsClient};
use crate::cli::context::Settings;
use crate::cli::error::CliError;
use crate::config::{ClientSettings, ConfigFile, IdentitySettings, KeyRef};
use crate::hsm::Token;
use crate::signer::{AuditLog, HsmSigner};

/// The name of the client that tokenless unix-socket connections are, when no `[[client]]`
/// without a `token_file` is configured.
pub const LOCAL_CLIENT: &str = "local";

/// A credential the service signs for.
pub struct Identity {
    /// Its name.
    pub name: String,
    /// The signer (key on the HSM, registered under the identity's credential id).
    pub signer: HsmSigner,
    /// The same, counted in the metrics: what every signature goes through.
    pub metered: Arc<MeteredSigner>,
    /// The token the key is on.
    pub token: Arc<Token>,
    /// A client acting as this identity, when it has a Dfns token (the proxy).
    pub api: Option<DfnsClient>,
    /// When that Dfns token expires.
    pub token_expires: Option<SystemTime>,
    /// Cleared when a signature fails on the HSM; readiness proves the pair again then.
    pub healthy: AtomicBool,
}

impl Identity {
    /// Record whether the last signature worked.
    pub fn set_healthy(&self, ok: bool) {
        self.healthy.store(ok, Ordering::Relaxed);
    }
}

/// Someone who connects to the service.
#[derive(Debug)]
pub struct Client {
    /// Its name, in the audit log and metrics.
    pub name: String,
    /// SHA-256 of its bearer token; `None` for the tokenless unix-socket client.
    token_sha256: Option<[u8; 32]>,
    /// Indexes into [`State::identities`] it may sign with.
    pub identities: Vec<usize>,
    /// Proxy routes it may use.
    pub routes: Vec<Route>,
}

/// Identities and clients.
pub struct State {
    /// Every identity.
    pub identities: Vec<Identity>,
    /// Every client; [`State::local`] is the tokenless one.
    pub clients: Vec<Client>,
    local: usize,
    /// The audit log, when configured.
    pub audit: Option<Arc<AuditLog>>,
    /// Whether the proxy has a Dfns API to reach.
    pub api_configured: bool,
    /// The settings it was built from (for readiness).
    pub settings: Settings,
}

/// What flags add to the profile.
#[derive(Debug, Clone, Default)]
pub struct FlagEntries {
    /// `--identity CRED_ID=KEY`.
    pub identities: Vec<(String, String)>,
    /// `--client-token-file FILE`.
    pub client_token_files: Vec<PathBuf>,
}

impl State {
    /// Build from the profile's entries and the flags' (blocking: logs in, finds keys, proves
    /// each key pair with a test signature).
    pub fn build(
        settings: &Settings,
        profile: &ConfigFile,
        flags: &FlagEntries,
        keyring: &Keyring,
        metrics: &Arc<Metrics>,
    ) -> Result<Self, CliError> {
        let mut entries: Vec<IdentitySettings> = profile.identity.clone();
        for (cred_id, key) in &flags.identities {
            entries.push(IdentitySettings {
                name: cred_id.clone(),
                cred_id: cred_id.clone(),
                key: key.clone(),
                auth_token_file: None,
            });
        }
        if entries.is_empty() {
            return Err(CliError::Usage(
                "no identity to sign for: give --identity CRED_ID=KEY or an [[identity]] table"
                    .into(),
            ));
        }
        let audit = settings.audit_log()?;
        let mut identities = Vec::with_capacity(entries.len());
        for entry in &entries {
            if identities.iter().any(|i: &Identity| i.name == entry.name) {
                return Err(CliError::Usage(format!(
                    "identity {:?} is configured twice",
                    entry.name
                )));
            }
            identities.push(identity(settings, entry, keyring, metrics)?);
        }
        let all: Vec<usize> = (0..identities.len()).collect();
        let mut clients = Vec::new();
        for entry in &profile.client {
            clients.push(client(entry, &identities)?);
        }
        for file in &flags.client_token_files {
            let name = format!(
                "token-file:{}",
                file.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            );
            clients.push(Client {
                name,
                token_sha256: Some(token_digest(file)?),
                identities: all.clone(),
                routes: Vec::new(),
            });
        }
        for (i, c) in clients.iter().enumerate() {
            if clients[..i].iter().any(|o| o.name == c.name) {
                return Err(CliError::Usage(format!(
                    "client {:?} is configured twice",
                    c.name
                )));
            }
            if c.token_sha256.is_some()
                && clients[..i]
                    .iter()
                    .any(|o| o.token_sha256 == c.token_sha256)
            {
                return Err(CliError::Usage(format!(
                    "client {:?} has the same token as another client: give each client its own",
                    c.name
                )));
            }
        }
        let tokenless: Vec<usize> = clients
            .iter()
            .enumerate()
            .filter(|(_, c)| c.token_sha256.is_none())
            .map(|(i, _)| i)
            .collect();
        let local = match tokenless.as_slice() {
            [] => {
                clients.push(Client {
                    name: LOCAL_CLIENT.into(),
                    token_sha256: None,
                    identities: all,
                    routes: Vec::new(),
                });
                clients.len() - 1
            }
            [one] => *one,
            _ => {
                return Err(CliError::Usage(
                    "more than one [[client]] has no token_file: only one can stand for tokenless unix-socket connections".into(),
                ))
            }
        };
        Ok(Self {
            identities,
            clients,
            local,
            audit,
            api_configured: settings.dfns.api_configured(),
            settings: settings.clone(),
        })
    }

    /// Whether any client authenticates with a bearer token.
    pub fn has_token_clients(&self) -> bool {
        self.clients.iter().any(|c| c.token_sha256.is_some())
    }

    /// The client presenting `token`, or the tokenless client for `None`.
    pub fn client(&self, token: Option<&str>) -> Option<&Client> {
        match token {
            None => self.clients.get(self.local),
            Some(t) => {
                let digest: [u8; 32] = Sha256::digest(t.as_bytes()).into();
                // Digests of equal length compared in full: the time says nothing about a prefix.
                self.clients.iter().find(|c| {
                    c.token_sha256.is_some_and(|d| {
                        d.iter().zip(digest).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
                    })
                })
            }
        }
    }
}

fn identity(
    settings: &Settings,
    entry: &IdentitySettings,
    keyring: &Keyring,
    metrics: &Arc<Metrics>,
) -> Result<Identity, CliError> {
    let context = |e: CliError| CliError::Usage(format!("identity {:?}: {e}", entry.name));
    let key: KeyRef = entry
        .key
        .parse()
        .map_err(|e: crate::config::ConfigError| context(e.into()))?;
    let (token, key) = keyring.key(settings, &key).map_err(context)?;
    let signer = HsmSigner::new(key, &entry.cred_id)?;
    // The public key Dfns holds must be this private key's: prove it before serving.
    signer.prove_pair().map_err(|e| context(e.into()))?;
    let metered = Arc::new(MeteredSigner::new(
        signer.clone(),
        &entry.name,
        Arc::clone(metrics),
        keyring.gate(&token),
    ));
    let (api, token_expires) = match &entry.auth_token_file {
        Some(file) => {
            let mut own = settings.clone();
            own.dfns.auth_token_file = Some(file.clone());
            let auth: AuthToken = own.auth_token().map_err(context)?;
            let expires = auth.claims().ok().and_then(|c| c.expires_at());
            let client = settings
                .client_with_token(auth, Some(metered.clone()))
                .map_err(context)?;
            (Some(client), expires)
        }
        None => (None, None),
    };
    Ok(Identity {
        name: entry.name.clone(),
        signer,
        metered,
        token,
        api,
        token_expires,
        healthy: AtomicBool::new(true),
    })
}

fn client(entry: &ClientSettings, identities: &[Identity]) -> Result<Client, CliError> {
    let mut allowed = Vec::new();
    for name in &entry.identities {
        let i = identities
            .iter()
            .position(|i| &i.name == name)
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "client {:?} names identity {name:?}, which is not configured",
                    entry.name
                ))
            })?;
        allowed.push(i);
    }
    let routes = entry
        .allow
        .iter()
        .map(|r| Route::parse(r))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CliError::Usage(format!("client {:?}: {e}", entry.name)))?;
    let token_sha256 = entry.token_file.as_deref().map(token_digest).transpose()?;
    Ok(Client {
        name: entry.name.clone(),
        token_sha256,
        identities: allowed,
        routes,
    })
}

/// The SHA-256 of the token in `file` (private, never through a link).
fn token_digest(file: &std::path::Path) -> Result<[u8; 32], CliError> {
    let token = AuthToken::from_file(file)
        .map_err(|e| CliError::Usage(format!("client token file: {e}")))?;
    Ok(Sha256::digest(token.expose_secret().as_bytes()).into())
}
