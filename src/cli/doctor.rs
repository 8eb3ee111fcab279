//! `dfns-hsm doctor`: is this HSM set up to hold a Dfns credential?
//!
//! Each check says ok, warn, fail or skipped with a line of detail; a failure stops the checks
//! that depend on it and makes the command exit non-zero. A check that could not run (nothing
//! configured to check, or what it needs failed) is skipped, never ok.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Map, Value};

use clap::Args;

use super::args::CallArgs;
use super::context::Settings;
use super::error::CliError;
use super::output::Report;
use super::text::safe;
use crate::api::{format_unix_time, AuthTokenError};
use crate::config::KeyRef;
use crate::hsm::{missing_mechanisms, pin_flags, Key, Token};
use crate::signer::{HsmSigner, Signer};
use crate::workflow::{prove_identity, ProofTarget};

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Fine.
    Ok,
    /// Works, but worth attention.
    Warn,
    /// Broken.
    Fail,
    /// Not run: nothing configured to check, or what it needs failed (the detail says which).
    Skipped,
}

/// One check's result.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: &'static str,
    /// Outcome.
    pub status: Status,
    /// What was found / what to do.
    pub detail: String,
    /// Facts a script may want (e.g. `expiresAt`, `daysLeft`), beside the detail.
    #[serde(flatten)]
    pub facts: Map<String, Value>,
}

#[derive(Default)]
struct Checks(Vec<Check>);

impl Checks {
    fn push(&mut self, name: &'static str, status: Status, detail: impl Into<String>) {
        self.push_with(name, status, detail, Map::new());
    }

    fn push_with(
        &mut self,
        name: &'static str,
        status: Status,
        detail: impl Into<String>,
        facts: Map<String, Value>,
    ) {
        self.0.push(Check {
            name,
            status,
            detail: detail.into(),
            facts,
        });
    }

    fn report(self) -> Result<Report, CliError> {
        let failed = self.0.iter().filter(|c| c.status == Status::Fail).count();
        let mut human = String::new();
        for c in &self.0 {
            let tag = match c.status {
                Status::Ok => "ok  ",
                Status::Warn => "warn",
                Status::Fail => "FAIL",
                Status::Skipped => "skip",
            };
            human.push_str(&format!("[{tag}] {:<11} {}\n", c.name, c.detail));
        }
        let json = json!({ "ok": failed == 0, "checks": self.0 });
        if failed == 0 {
            Ok(Report::new(json, human))
        } else {
            // Every check is shown, the failing ones with the rest.
            Err(CliError::ChecksFailed {
                json,
                human,
                failed,
            })
        }
    }
}

/// Arguments of `doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Key to examine and test-sign with (default: --signing-key, else survey all keys).
    #[arg(long, value_name = "REF")]
    pub key: Option<String>,
    /// Warn when the auth token expires within N days (default 30; 0 never warns)
    /// [env: DFNS_HSM_EXPIRY_WARNING_DAYS]
    #[arg(long, value_name = "N")]
    pub expiry_warning_days: Option<u32>,
    /// HSM, identity and API to check.
    #[command(flatten)]
    pub call: CallArgs,
}

/// Run the checks; `key` is the key to examine closely (else every key is surveyed).
pub fn run(ctx: &Settings, key: Option<String>) -> Result<Report, CliError> {
    let mut checks = Checks::default();
    let key_ref = key
        .or_else(|| ctx.dfns.signing_key.clone())
        .map(|k| k.parse::<KeyRef>())
        .transpose()?;
    check_clock(&mut checks);
    let api = check_api(&mut checks, ctx);
    check_auth_token(&mut checks, ctx);
    let examined = check_hsm(&mut checks, ctx, key_ref.as_ref())?;
    check_identity(&mut checks, ctx, api, key_ref.as_ref(), examined);
    checks.report()
}

/// The HSM checks: module, token, login, mechanisms, then the key (or a survey of every key).
/// Returns the examined key when it passed its checks.
fn check_hsm(
    checks: &mut Checks,
    ctx: &Settings,
    key_ref: Option<&KeyRef>,
) -> Result<Option<Arc<Key>>, CliError> {
    let mut settings = ctx.hsm.clone();
    if let Some(KeyRef::Uri(uri)) = key_ref {
        settings = settings.with_uri(uri)?;
    }
    let module = match ctx.module(&settings) {
        Ok(m) => {
            checks.push(
                "module",
                Status::Ok,
                format!("{} ({})", m.path().display(), m.describe()),
            );
            m
        }
        Err(e) => {
            checks.push("module", Status::Fail, e.to_string());
            return Ok(None);
        }
    };
    let selector = match settings.selector() {
        Ok(s) => s,
        Err(e) => {
            checks.push("token", Status::Fail, e.to_string());
            return Ok(None);
        }
    };
    match module.find_slot(&selector) {
        Ok((_, info)) => {
            let flags = pin_flags(&info);
            let status = if flags.is_empty() {
                Status::Ok
            } else {
                Status::Warn
            };
            let mut detail = format!(
                "{:?} serial {}",
                info.label().trim_end(),
                info.serial_number().trim()
            );
            if !flags.is_empty() {
                detail.push_str(&format!(" ({})", flags.join(", ")));
            }
            checks.push("token", status, detail);
        }
        Err(e) => {
            checks.push("token", Status::Fail, e.to_string());
            return Ok(None);
        }
    }
    let token = match settings
        .pin_source()
        .map_err(CliError::from)
        .and_then(|pin| {
            Token::open(module, &selector, &pin, settings.token_options()).map_err(CliError::from)
        }) {
        Ok(t) => {
            checks.push(
                "login",
                Status::Ok,
                format!("logged in; worker sessions up to {}", t.max_sessions()),
            );
            t
        }
        Err(e) => {
            checks.push("login", Status::Fail, e.to_string());
            return Ok(None);
        }
    };
    check_mechanisms(checks, &token);
    Ok(match key_ref {
        Some(KeyRef::File(p)) => {
            checks.push(
                "key",
                Status::Warn,
                format!("file:{} is a software key, not on the HSM", p.display()),
            );
            None
        }
        Some(r) => check_key(checks, ctx, &token, r),
        None => {
            survey_keys(checks, &token);
            None
        }
    })
}

fn check_clock(checks: &mut Checks) {
    // Dfns tokens and challenges carry expiry times; a clock far off breaks them in confusing
    // ways. Without a reference clock we can only catch the grossly wrong (e.g. epoch on boot).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    const JAN_2025: u64 = 1_735_689_600;
    if now < JAN_2025 {
        checks.push(
            "clock",
            Status::Fail,
            "system clock is before 2025; fix NTP before using Dfns tokens",
        );
    } else {
        checks.push("clock", Status::Ok, "system clock plausible");
    }
}

/// What the API check found, for the checks that need the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ApiState {
    /// No API configured.
    NotConfigured,
    /// Unreachable, or it refused the token.
    Failed,
    /// Reachable and the token accepted (or no way to tell the token was refused).
    Usable,
}

/// Reach the API (when one is configured), check the token is accepted, and compare the
/// server's clock with ours.
fn check_api(checks: &mut Checks, ctx: &Settings) -> ApiState {
    if !ctx.dfns.api_configured() {
        checks.push(
            "api",
            Status::Skipped,
            "not checked: no API configured (--api-url / DFNS_API_URL)",
        );
        return ApiState::NotConfigured;
    }
    let url = match ctx.api_url() {
        Ok(u) => u,
        Err(e) => {
            checks.push("api", Status::Fail, e.to_string());
            return ApiState::Failed;
        }
    };
    let token = ctx.auth_token().ok();
    let target = format!("{}/auth/service-accounts", url.as_str());
    // The client's own transport rules: no redirect followed, no proxy for a loopback API.
    let client = match crate::api::http_client(
        &url,
        crate::api::USER_AGENT,
        std::time::Duration::from_secs(10),
        std::time::Duration::from_secs(10),
    ) {
        Ok(c) => c,
        Err(e) => {
            checks.push("api", Status::Fail, e.to_string());
            return ApiState::Failed;
        }
    };
    let probe = async {
        let mut request = client.get(&target);
        if let Some(t) = &token {
            request = request.bearer_auth(t.expose_secret());
        }
        request.send().await
    };
    // Doctor runs on a blocking thread of the runtime, where blocking on a future is allowed.
    let response = match tokio::runtime::Handle::try_current() {
        Ok(rt) => rt.block_on(probe),
        Err(e) => {
            checks.push("api", Status::Fail, format!("no async runtime: {e}"));
            return ApiState::Failed;
        }
    };
    let response = match response {
        Ok(r) => r,
        Err(e) => {
            checks.push(
                "api",
                Status::Fail,
                format!("cannot reach {}: {e}", url.as_str()),
            );
            return ApiState::Failed;
        }
    };
    let status = response.status().as_u16();
    // A refused token or a redirect leaves nothing to prove; any other answer came from an
    // API that authenticated the token (a 403 only says its identity may not list accounts).
    let state = match status {
        401 | 300..=399 => ApiState::Failed,
        _ => ApiState::Usable,
    };
    match (status, token.is_some()) {
        (200, _) => checks.push("api", Status::Ok, format!("{} reachable; the token is accepted", url.as_str())),
        (403, true) => checks.push("api", Status::Ok, format!("{} reachable; the token is accepted (its identity may not list service accounts: HTTP 403)", url.as_str())),
        (401, true) => checks.push(
            "api",
            Status::Fail,
            format!("{} reachable but the token is refused (401): expired, revoked, or for another region", url.as_str()),
        ),
        (401, false) => checks.push("api", Status::Ok, format!("{} reachable (no token configured to check)", url.as_str())),
        (other @ 300..=399, _) => checks.push(
            "api",
            Status::Fail,
            format!("{} answered HTTP {other}, a redirect; redirects are never followed (the token would go elsewhere)", url.as_str()),
        ),
        (other, _) => checks.push("api", Status::Warn, format!("{} answered HTTP {other}", url.as_str())),
    }
    let server_time = response
        .headers()
        .get(reqwest::header::DATE)
        .and_then(|d| d.to_str().ok())
        .and_then(|d| httpdate::parse_http_date(d).ok());
    if let Some(server) = server_time {
        let now = std::time::SystemTime::now();
        let skew = now
            .duration_since(server)
            .or_else(|_| server.duration_since(now))
            .map(|d| d.as_secs())
            .unwrap_or(0);
        // HTTP dates have one-second resolution; tokens and challenges live for minutes.
        let status = if skew > 60 {
            Status::Fail
        } else if skew > 5 {
            Status::Warn
        } else {
            Status::Ok
        };
        checks.push(
            "api clock",
            status,
            format!("local clock is {skew} s from the API server's"),
        );
    }
    state
}

/// Seconds in a day.
const DAY: i64 = 86_400;

/// The auth token's expiry, from its claims (read, not verified: Dfns verifies its tokens).
fn check_auth_token(checks: &mut Checks, ctx: &Settings) {
    const NAME: &str = "auth token";
    let token = match ctx.auth_token() {
        Ok(t) => t,
        Err(CliError::AuthToken(AuthTokenError::Missing)) => {
            checks.push(
                NAME,
                Status::Skipped,
                "not checked: no auth token configured (--auth-token-file / DFNS_AUTH_TOKEN_FILE / DFNS_AUTH_TOKEN)",
            );
            return;
        }
        Err(e) => {
            checks.push(NAME, Status::Fail, e.to_string());
            return;
        }
    };
    let claims = match token.claims() {
        Ok(c) => c,
        Err(reason) => {
            checks.push(
                NAME,
                Status::Warn,
                format!("its expiry is unknown: {reason}"),
            );
            return;
        }
    };
    let Some(exp) = claims.exp else {
        checks.push(NAME, Status::Warn, "it carries no expiry (no exp claim)");
        return;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let left = i64::try_from(exp)
        .unwrap_or(i64::MAX)
        .saturating_sub(i64::try_from(now).unwrap_or(i64::MAX));
    // Whole days left (negative once expired): "in 29 days" for 29 days and some hours.
    let days_left = left.div_euclid(DAY);
    let warning_days = ctx.dfns.expiry_warning_days();
    let date = format_unix_time(exp);
    let mut facts = Map::new();
    facts.insert("expiresAt".into(), json!(date));
    facts.insert("daysLeft".into(), json!(days_left));
    facts.insert("warningDays".into(), json!(warning_days));
    let whose = match claims.user_id() {
        Some(u) => format!(" (identity {})", safe(u)),
        None => String::new(),
    };
    let service_account = claims
        .app_metadata
        .as_ref()
        .and_then(|m| m.token_kind.as_deref())
        == Some("ServiceAccount");
    let renew = if service_account {
        "; a service account's token cannot be renewed: enroll a new account (`dfns-hsm service-account enroll`) and switch to its token before then"
    } else {
        ""
    };
    if left <= 0 {
        checks.push_with(
            NAME,
            Status::Fail,
            format!(
                "expired on {date}, {} day(s) ago{whose}{renew}",
                (-left).div_euclid(DAY)
            ),
            facts,
        );
    } else if left < i64::from(warning_days).saturating_mul(DAY) {
        checks.push_with(
            NAME,
            Status::Warn,
            format!(
                "expires on {date}, in {days_left} day(s){whose}: within the {warning_days}-day warning (--expiry-warning-days){renew}"
            ),
            facts,
        );
    } else {
        checks.push_with(
            NAME,
            Status::Ok,
            format!("expires on {date}, in {days_left} day(s){whose}"),
            facts,
        );
    }
}

/// Prove that the signing identity's key and credential id belong to the auth token's
/// identity: a user action obtained as it and never used (see [`prove_identity`]).
fn check_identity(
    checks: &mut Checks,
    ctx: &Settings,
    api: ApiState,
    key_ref: Option<&KeyRef>,
    examined: Option<Arc<Key>>,
) {
    const NAME: &str = "identity";
    let (signing_key, cred_id) = match ctx.dfns.identity() {
        Ok(Some(identity)) => identity,
        Ok(None) => {
            checks.push(
                NAME,
                Status::Skipped,
                "not checked: no signing identity (--signing-key and --cred-id, or DFNS_SIGNING_KEY and DFNS_CRED_ID)",
            );
            return;
        }
        Err(e) => {
            checks.push(NAME, Status::Fail, e.to_string());
            return;
        }
    };
    match api {
        ApiState::NotConfigured => {
            checks.push(
                NAME,
                Status::Skipped,
                "not checked: no API configured (--api-url / DFNS_API_URL)",
            );
            return;
        }
        ApiState::Failed => {
            checks.push(NAME, Status::Skipped, "not checked: the api check failed");
            return;
        }
        ApiState::Usable => {}
    }
    // The key examined above when it is the signing key: no second connection to the token.
    let signer: Arc<dyn Signer> = match (&signing_key, examined) {
        (KeyRef::File(_), _) => match ctx.signer(&signing_key, &cred_id) {
            Ok(s) => s,
            Err(e) => {
                checks.push(NAME, Status::Fail, e.to_string());
                return;
            }
        },
        (r, Some(key)) if key_ref == Some(r) => match HsmSigner::new(key, &cred_id) {
            Ok(s) => Arc::new(s),
            Err(e) => {
                checks.push(NAME, Status::Fail, e.to_string());
                return;
            }
        },
        (r, None) if key_ref == Some(r) => {
            checks.push(
                NAME,
                Status::Skipped,
                "not checked: the signing key did not pass the checks above",
            );
            return;
        }
        _ => match ctx.signer(&signing_key, &cred_id) {
            Ok(s) => s,
            Err(e) => {
                checks.push(NAME, Status::Fail, format!("the signing key: {e}"));
                return;
            }
        },
    };
    let key_uri = signer.key_uri().to_owned();
    let client = match ctx.client(Some(signer)) {
        Ok(c) => c,
        Err(e) => {
            checks.push(NAME, Status::Fail, e.to_string());
            return;
        }
    };
    let user = client
        .token_claims()
        .ok()
        .and_then(|c| c.user_id().map(str::to_owned));
    let target = ProofTarget::for_user(user.as_deref());
    // Doctor runs on a blocking thread of the runtime, where blocking on a future is allowed.
    let proof = match tokio::runtime::Handle::try_current() {
        Ok(rt) => rt.block_on(prove_identity(&client, &target)),
        Err(e) => {
            checks.push(NAME, Status::Fail, format!("no async runtime: {e}"));
            return;
        }
    };
    let mut facts = Map::new();
    facts.insert("credId".into(), json!(cred_id));
    facts.insert("keyUri".into(), json!(key_uri));
    facts.insert("userId".into(), json!(user));
    facts.insert("provenWith".into(), json!(format!("PUT {}", target.path())));
    match proof {
        Ok(p) => checks.push_with(
            NAME,
            Status::Ok,
            format!(
                "key {} and credential {} belong to the token's identity {}: a user action for {} {} was signed and granted, and never used (nothing changed)",
                safe(&p.key_uri),
                safe(&p.cred_id),
                safe(user.as_deref().unwrap_or("(unnamed)")),
                p.method,
                p.path
            ),
            facts,
        ),
        Err(e) => {
            let hint = super::hint::api_hint(&e)
                .map(|h| format!(" (hint: {h})"))
                .unwrap_or_default();
            checks.push_with(
                NAME,
                Status::Fail,
                format!(
                    "key {}, credential {} and the auth token do not belong together: {}{hint}",
                    safe(&key_uri),
                    safe(&cred_id),
                    safe(&e.to_string())
                ),
                facts,
            );
        }
    }
}

fn check_mechanisms(checks: &mut Checks, token: &Token) {
    match missing_mechanisms(token) {
        Ok(list) => {
            let ok: Vec<String> = list
                .iter()
                .filter(|(_, m)| m.is_empty())
                .map(|(a, _)| a.to_string())
                .collect();
            let missing: Vec<String> = list
                .iter()
                .filter(|(_, m)| !m.is_empty())
                .map(|(a, m)| format!("{a} (needs {})", m.join(", ")))
                .collect();
            let status = if ok.is_empty() {
                Status::Fail
            } else if missing.is_empty() {
                Status::Ok
            } else {
                Status::Warn
            };
            let mut detail = format!(
                "supported: {}",
                if ok.is_empty() {
                    "none".into()
                } else {
                    ok.join(", ")
                }
            );
            if !missing.is_empty() {
                detail.push_str(&format!("; unavailable: {}", missing.join(", ")));
            }
            checks.push("mechanisms", status, detail);
        }
        Err(e) => checks.push("mechanisms", Status::Fail, e.to_string()),
    }
}

fn check_key(
    checks: &mut Checks,
    ctx: &Settings,
    token: &Arc<Token>,
    key_ref: &KeyRef,
) -> Option<Arc<Key>> {
    // On the token already open: a second connection would need sessions of its own.
    let found = ctx
        .key_location(key_ref)
        .and_then(|(_, selector)| Key::find(token, selector).map_err(CliError::from));
    let key: Arc<Key> = match found {
        Ok(k) => Arc::new(k),
        Err(e) => {
            checks.push("key", Status::Fail, e.to_string());
            return None;
        }
    };
    let reasons = key.info().attributes.unsafe_reasons();
    let safe = reasons.is_empty();
    if safe {
        checks.push(
            "key",
            Status::Ok,
            format!(
                "{} {} is sensitive and never-extractable",
                key.algorithm(),
                key.uri()
            ),
        );
    } else {
        checks.push(
            "key",
            Status::Fail,
            format!(
                "{} is unsafe for a Dfns credential: {}",
                key.uri(),
                reasons.join(", ")
            ),
        );
    }
    // A random challenge signed on the token and verified against the public key it reports:
    // the proof that the public key is this key's.
    let result = HsmSigner::new(Arc::clone(&key), "doctor").and_then(|s| s.prove_pair());
    match result {
        Ok(()) => {
            checks.push(
                "signature",
                Status::Ok,
                "test signature made and verified against the key's public key",
            );
            (safe || ctx.allow_unsafe_key).then_some(key)
        }
        Err(e) => {
            checks.push("signature", Status::Fail, e.to_string());
            None
        }
    }
}

fn survey_keys(checks: &mut Checks, token: &Arc<Token>) {
    match Key::list(token) {
        Ok(keys) if keys.is_empty() => checks.push(
            "keys",
            Status::Warn,
            "no private keys yet; create one with `dfns-hsm key generate --label NAME`",
        ),
        Ok(keys) => {
            let unsafe_keys: Vec<String> = keys
                .iter()
                .filter(|k| !k.attributes.unsafe_reasons().is_empty())
                .map(|k| {
                    format!(
                        "{:?} ({})",
                        k.label,
                        k.attributes.unsafe_reasons().join(", ")
                    )
                })
                .collect();
            if unsafe_keys.is_empty() {
                checks.push(
                    "keys",
                    Status::Ok,
                    format!("{} key(s), all sensitive and never-extractable", keys.len()),
                );
            } else {
                checks.push(
                    "keys",
                    Status::Warn,
                    format!(
                        "{} key(s); unsafe for Dfns: {}",
                        keys.len(),
                        unsafe_keys.join("; ")
                    ),
                );
            }
        }
        Err(e) => checks.push("keys", Status::Fail, e.to_string()),
    }
}
