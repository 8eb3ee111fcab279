//! `GET /readyz`: named checks, each passing or not. Cheap while all is well: a key pair is
//! proven again only after a signature with it failed.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use super::routes::seconds_until;
use super::state::State;
use crate::hsm::Token;

/// How long the API reachability probe may take.
const API_PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// The checks.
#[derive(Debug)]
pub struct Report {
    /// Whether every check passed.
    pub ready: bool,
    checks: Vec<(String, bool, String)>,
}

impl Report {
    /// A report with one failed check.
    pub fn failed(detail: String) -> Self {
        Self {
            ready: false,
            checks: vec![("readiness".into(), false, detail)],
        }
    }

    fn add(&mut self, name: String, result: Result<String, String>) {
        let ok = result.is_ok();
        self.ready &= ok;
        self.checks.push((name, ok, result.unwrap_or_else(|e| e)));
    }

    /// `{"ready": bool, "checks": [{"name", "ok", "detail"}]}`.
    pub fn to_json(&self) -> Value {
        let checks: Vec<Value> = self
            .checks
            .iter()
            .map(|(name, ok, detail)| json!({ "name": name, "ok": ok, "detail": detail }))
            .collect();
        json!({ "ready": self.ready, "checks": checks })
    }
}

/// Run every check: the token's in the blocking pool, the API probe on the runtime.
pub async fn check(state: Arc<State>) -> Report {
    let hsm_state = Arc::clone(&state);
    let mut report = tokio::task::spawn_blocking(move || hsm_checks(&hsm_state))
        .await
        .unwrap_or_else(|e| Report::failed(format!("readiness check aborted: {e}")));
    if state.api_configured && state.identities.iter().any(|i| i.api.is_some()) {
        report.add("Dfns API reachable".into(), api_reachable(&state).await);
    }
    report
}

/// The checks that talk to the token (blocking).
fn hsm_checks(state: &State) -> Report {
    let mut report = Report {
        ready: true,
        checks: Vec::new(),
    };
    let mut tokens: Vec<Arc<Token>> = Vec::new();
    for identity in &state.identities {
        if !tokens.iter().any(|t| Arc::ptr_eq(t, &identity.token)) {
            tokens.push(Arc::clone(&identity.token));
        }
    }
    for token in &tokens {
        report.add(
            format!("token {:?} logged in", token.label()),
            logged_in(token),
        );
    }
    for identity in &state.identities {
        let key = if identity.healthy.load(std::sync::atomic::Ordering::Relaxed) {
            Ok("found, pair proven".to_owned())
        } else {
            match identity.signer.prove_pair() {
                Ok(()) => {
                    identity.set_healthy(true);
                    Ok("found, pair proven again after a failed signature".to_owned())
                }
                Err(e) => Err(e.to_string()),
            }
        };
        report.add(format!("identity {:?} key", identity.name), key);
        if let Some(expires) = identity.token_expires {
            let secs = seconds_until(SystemTime::now(), expires);
            let days = secs / 86_400;
            let result = if secs <= 0 {
                Err("the Dfns token has expired: rotate the service account".to_owned())
            } else {
                Ok(format!("expires in {days} day(s)"))
            };
            report.add(format!("identity {:?} Dfns token", identity.name), result);
        }
    }
    report
}

fn logged_in(token: &Token) -> Result<String, String> {
    use cryptoki::session::SessionState;
    let state = token
        .with_session(|s, _| {
            s.get_session_info()
                .map_err(|e| crate::hsm::Error::pkcs11("C_GetSessionInfo", e))
        })
        .map_err(|e| e.to_string())?
        .session_state();
    match state {
        SessionState::RwUser | SessionState::RoUser => Ok("user session".into()),
        other => Err(format!("session state is {other:?}, not logged in")),
    }
}

/// Any HTTP answer from the API's base URL counts: the check is the network path, not a call.
async fn api_reachable(state: &State) -> Result<String, String> {
    let api = state.settings.api_url().map_err(|e| e.to_string())?;
    let url = api.to_string();
    let mut builder = reqwest::Client::builder().timeout(API_PROBE_TIMEOUT);
    // As the API client does: a loopback API is never reached through a proxy.
    if api.is_loopback() {
        builder = builder.no_proxy();
    }
    let client = builder.build().map_err(|e| e.to_string())?;
    match client.get(&url).send().await {
        Ok(r) => Ok(format!("{url} answered {}", r.status().as_u16())),
        Err(e) => Err(format!("{url}: {e}")),
    }
}
