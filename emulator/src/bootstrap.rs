//! First start and restart of a state dir.
//!
//! Layout of `DIR` (all files written atomically; secrets mode 0600):
//! - `state.json`: org, users, credentials, token ids and the HS256 token key (0600)
//! - `admin.key.pem`: the generated admin P-256 private key, PKCS#8 (0600; only when no
//!   `--admin-public-key` was given; never regenerated on restart)
//! - `admin.token`: the admin's bearer token, no trailing newline (0600)
//! - `admin.cred-id`: the admin's Key credential id, no trailing newline (0600)
//! - `ready`: the base URL, written last once the server listens (0644; removed at start
//!   and on clean shutdown)

use std::fs;
use std::path::{Path, PathBuf};

use p256::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};

use crate::auth::{self, AccessClaims};
use crate::clock;
use crate::files;
use crate::ids;
use crate::permissions;
use crate::public_key::PublicKey;
use crate::state::{self, AccessToken, Credential, State, User};
use crate::token::TokenKey;

/// The admin's generated private key.
pub const ADMIN_KEY_FILE: &str = "admin.key.pem";
/// The admin's bearer token.
pub const ADMIN_TOKEN_FILE: &str = "admin.token";
/// The admin's credential id.
pub const ADMIN_CRED_ID_FILE: &str = "admin.cred-id";
/// The base URL, written last.
pub const READY_FILE: &str = "ready";

/// What bootstrapping needs from the command line.
#[derive(Debug, Clone)]
pub struct BootstrapOptions {
    /// The state dir.
    pub state_dir: PathBuf,
    /// PEM file of the admin's public key, if given.
    pub admin_public_key: Option<PathBuf>,
    /// Lifetime of a newly minted admin token, seconds.
    pub admin_token_ttl_secs: u64,
}

/// Prepare `DIR`: remove a stale `ready`, load or create the state, and (re)write the admin
/// files. Returns the state and its token key.
pub fn prepare(
    opts: &BootstrapOptions,
) -> Result<(State, TokenKey, crate::state_dir::StateDirLock), String> {
    let dir = &opts.state_dir;
    files::ensure_dir(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    // Before anything in it is read: who may write it, and that no other emulator uses it.
    let lock = crate::state_dir::guard(dir)?;
    files::remove_if_exists(&dir.join(READY_FILE)).map_err(|e| {
        format!(
            "cannot remove stale {}: {e}",
            dir.join(READY_FILE).display()
        )
    })?;
    let mut state = match state::load(dir)? {
        Some(existing) => {
            if opts.admin_public_key.is_some() {
                tracing::warn!(
                    "--admin-public-key is ignored: {} already holds an organization",
                    dir.display()
                );
            }
            existing
        }
        None => create(opts)?,
    };
    let key = state.token_key()?;
    ensure_admin_token(dir, &mut state, &key, opts.admin_token_ttl_secs)?;
    let cred_id = admin(&state)?.credential.cred_id.clone();
    write_private(&dir.join(ADMIN_CRED_ID_FILE), cred_id.as_bytes())?;
    Ok((state, key, lock))
}

fn admin(state: &State) -> Result<&User, String> {
    state
        .users
        .iter()
        .find(|u| u.user_id == state.admin_user_id)
        .ok_or_else(|| "state.json has no admin user".to_string())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    files::write_atomic(path, bytes, files::PRIVATE)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// A new organization with its admin user; writes `admin.key.pem` (if generated) and the state.
fn create(opts: &BootstrapOptions) -> Result<State, String> {
    let dir = &opts.state_dir;
    let public_pem = match &opts.admin_public_key {
        Some(path) => {
            let pem = fs::read_to_string(path)
                .map_err(|e| format!("cannot read --admin-public-key {}: {e}", path.display()))?;
            let key = PublicKey::from_pem(&pem)
                .map_err(|e| format!("--admin-public-key {}: {e}", path.display()))?;
            tracing::info!(
                alg = key.algorithm(),
                "admin credential from --admin-public-key"
            );
            format!("{}\n", pem.trim())
        }
        None => {
            let secret = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
            let private_pem = secret
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|e| format!("cannot encode the admin private key: {e}"))?;
            write_private(&dir.join(ADMIN_KEY_FILE), private_pem.as_bytes())?;
            tracing::info!("generated a P-256 admin key in {ADMIN_KEY_FILE}");
            secret
                .verifying_key()
                .to_public_key_pem(LineEnding::LF)
                .map_err(|e| format!("cannot encode the admin public key: {e}"))?
        }
    };
    let key = TokenKey::new(ids::random_bytes::<32>().to_vec());
    let mut state = state::new_state(&key, ids::new_id("or"), ids::new_id("ap"));
    let now = clock::now_rfc3339();
    let admin = User {
        user_id: ids::new_id("us"),
        name: "Emulator Admin".into(),
        username: "admin@dfns-emulator.local".into(),
        kind: "CustomerEmployee".into(),
        is_service_account: false,
        is_active: true,
        archived: false,
        external_id: None,
        credential: Credential {
            cred_id: ids::new_cred_id(),
            credential_uuid: ids::new_id("cr"),
            public_key: public_pem,
            date_created: now.clone(),
        },
        token: AccessToken {
            token_id: ids::new_id("to"),
            expires_at: 0,
            date_created: now.clone(),
        },
        date_created: now,
    };
    state.admin_user_id = admin.user_id.clone();
    // The admin holds every operation through the immutable owner permission.
    let (owner, assignment) = permissions::owner(&admin.user_id);
    state.permissions.push(owner);
    state.assignments.push(assignment);
    state.users.push(admin);
    state::save(dir, &state)?;
    tracing::info!(org = %state.org_id, admin = %state.admin_user_id, "bootstrapped a new organization");
    Ok(state)
}

/// Keep `admin.token` if it is still a valid token of the admin; otherwise mint a new one.
fn ensure_admin_token(
    dir: &Path,
    state: &mut State,
    key: &TokenKey,
    ttl_secs: u64,
) -> Result<(), String> {
    let path = dir.join(ADMIN_TOKEN_FILE);
    let admin_id = state.admin_user_id.clone();
    let token_id = admin(state)?.token.token_id.clone();
    if let Ok(existing) = fs::read_to_string(&path) {
        let still_valid = key
            .verify::<AccessClaims>(existing.trim(), clock::now_secs())
            .map(|c| c.sub == admin_id && c.jti == token_id)
            .unwrap_or(false);
        if still_valid {
            return Ok(());
        }
    }
    let exp = clock::now_secs().saturating_add(ttl_secs);
    if let Some(user) = state.users.iter_mut().find(|u| u.user_id == admin_id) {
        user.token.expires_at = exp;
    }
    let org_id = state.org_id.clone();
    let token = auth::mint_access_token(key, &org_id, admin(state)?, exp).map_err(|e| e.message)?;
    state::save(dir, state)?;
    write_private(&path, token.as_bytes())
}
