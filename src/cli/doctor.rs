//! `dfns-hsm doctor`: is this HSM set up to hold a Dfns credential?
//!
//! Each check says ok, warn or fail with a line of detail; a failure stops the checks that
//! depend on it and makes the command exit non-zero.

use std::sync::Arc;

use serde::Serialize;
use serde_json::json;

use clap::Args;

use super::args::CallArgs;
use super::context::Settings;
use super::error::CliError;
use super::output::Report;
use crate::config::KeyRef;
use crate::hsm::{missing_mechanisms, pin_flags, Key, Token};
use crate::signer::HsmSigner;

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
}

#[derive(Default)]
struct Checks(Vec<Check>);

impl Checks {
    fn push(&mut self, name: &'static str, status: Status, detail: impl Into<String>) {
        self.0.push(Check {
            name,
            status,
            detail: detail.into(),
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
    let mut settings = ctx.hsm.clone();
    if let Some(KeyRef::Uri(uri)) = &key_ref {
        settings = settings.with_uri(uri)?;
    }
    check_clock(&mut checks);
    check_api(&mut checks, ctx);

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
            return checks.report();
        }
    };
    let selector = match settings.selector() {
        Ok(s) => s,
        Err(e) => {
            checks.push("token", Status::Fail, e.to_string());
            return checks.report();
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
            return checks.report();
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
            return checks.report();
        }
    };
    check_mechanisms(&mut checks, &token);
    match &key_ref {
        Some(KeyRef::File(p)) => checks.push(
            "key",
            Status::Warn,
            format!("file:{} is a software key, not on the HSM", p.display()),
        ),
        Some(r) => check_key(&mut checks, ctx, &token, r),
        None => survey_keys(&mut checks, &token),
    }
    checks.report()
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

/// Reach the API (when one is configured), check the token is accepted, and compare the
/// server's clock with ours.
fn check_api(checks: &mut Checks, ctx: &Settings) {
    if !ctx.dfns.api_configured() {
        checks.push(
            "api",
            Status::Ok,
            "not checked (no --api-url / DFNS_API_URL)",
        );
        return;
    }
    let url = match ctx.api_url() {
        Ok(u) => u,
        Err(e) => {
            checks.push("api", Status::Fail, e.to_string());
            return;
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
            return;
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
            return;
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
            return;
        }
    };
    let status = response.status().as_u16();
    match (status, token.is_some()) {
        (200, _) => checks.push("api", Status::Ok, format!("{} reachable; the token is accepted", url.as_str())),
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

fn check_key(checks: &mut Checks, ctx: &Settings, token: &Arc<Token>, key_ref: &KeyRef) {
    // On the token already open: a second connection would need sessions of its own.
    let found = ctx
        .key_location(key_ref)
        .and_then(|(_, selector)| Key::find(token, selector).map_err(CliError::from));
    let key: Arc<Key> = match found {
        Ok(k) => Arc::new(k),
        Err(e) => {
            checks.push("key", Status::Fail, e.to_string());
            return;
        }
    };
    let reasons = key.info().attributes.unsafe_reasons();
    if reasons.is_empty() {
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
        Ok(()) => checks.push(
            "signature",
            Status::Ok,
            "test signature made and verified against the key's public key",
        ),
        Err(e) => checks.push("signature", Status::Fail, e.to_string()),
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
