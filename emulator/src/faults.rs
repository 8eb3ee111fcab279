//! Fault injection, for testing clients against a throttling, flaky server and network.
//!
//! Two faults, each rolled per request with a seeded RNG (`--fail-seed`), so a client that
//! sends the same requests in the same order meets the same faults:
//!
//! - **refusal** (`--fail-rate`): the request is answered 429, 500 or 503 (`--fail-status`)
//!   **before** anything is done. About half of the 429 and 503 answers carry a `Retry-After`
//!   (`--fail-retry-after` seconds), alternately as delta-seconds and as an HTTP date.
//! - **lost response** (`--drop-response-rate`): the request is handled in full (a mutation
//!   is committed and persisted) and then its answer is lost (`--drop-response-mode`):
//!   `close` ends the connection without a complete answer, `500` answers 500 instead, `hang`
//!   answers nothing until the client gives up (at most [`HANG_LIMIT`]).
//!
//! `--fail-route` / `--drop-response-route` restrict each fault to matching requests
//! (`[METHOD ]PATH_PREFIX`); by default every endpoint is eligible. The emulator's own
//! `/_emulator/*` endpoints never fail.
//!
//! What happened is counted and served, with the journal of committed mutations, at
//! `GET /_emulator/stats` (see [`Faults::stats`]).

use std::fmt;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{json, Value};

use crate::app::AppState;
use crate::error::ApiError;

/// Prefix of the emulator's own endpoints; faults never touch them.
pub const EMULATOR_PREFIX: &str = "/_emulator/";
/// The longest a `hang` lost response holds the connection.
pub const HANG_LIMIT: Duration = Duration::from_secs(60);
/// Statuses `--fail-status` accepts.
pub const FAIL_STATUSES: [u16; 5] = [429, 500, 502, 503, 504];
/// At most this many committed mutations are kept in the journal.
const JOURNAL_LIMIT: usize = 100_000;

/// How a lost response is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropMode {
    /// The connection ends before a complete answer.
    Close,
    /// The answer is replaced by a 500.
    Error500,
    /// No answer until the client gives up.
    Hang,
}

impl DropMode {
    fn name(self) -> &'static str {
        match self {
            DropMode::Close => "close",
            DropMode::Error500 => "500",
            DropMode::Hang => "hang",
        }
    }
}

impl fmt::Display for DropMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DropMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "close" => Ok(DropMode::Close),
            "500" => Ok(DropMode::Error500),
            "hang" => Ok(DropMode::Hang),
            _ => Err(format!("{s:?} is not a drop mode: use close, 500 or hang")),
        }
    }
}

/// Which requests a fault applies to: `[METHOD ]PATH_PREFIX`, e.g. `POST /auth/service-accounts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteFilter {
    method: Option<Method>,
    prefix: String,
}

impl RouteFilter {
    fn matches(&self, method: &Method, path: &str) -> bool {
        self.method.as_ref().map_or(true, |m| m == method) && path.starts_with(&self.prefix)
    }
}

impl FromStr for RouteFilter {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (method, prefix) = match s.trim().split_once(' ') {
            Some((m, p)) => {
                let m = Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                    .map_err(|_| format!("{m:?} is not an HTTP method"))?;
                (Some(m), p.trim())
            }
            None => (None, s.trim()),
        };
        if !prefix.starts_with('/') {
            return Err(format!(
                "{s:?}: expected [METHOD ]PATH_PREFIX, e.g. \"POST /auth/service-accounts\""
            ));
        }
        Ok(RouteFilter {
            method,
            prefix: prefix.to_owned(),
        })
    }
}

/// The fault options (from the command line).
#[derive(Debug, Clone, Default)]
pub struct FaultConfig {
    /// Fraction of eligible requests refused before handling.
    pub fail_rate: f64,
    /// Statuses a refusal picks from, uniformly (empty = 429, 500, 503).
    pub fail_statuses: Vec<u16>,
    /// `Retry-After` seconds on about half of the 429/503 refusals.
    pub retry_after_secs: u64,
    /// Requests eligible for refusals (empty = all).
    pub fail_routes: Vec<RouteFilter>,
    /// Fraction of eligible requests whose response is lost after handling.
    pub drop_rate: f64,
    /// Ways a response is lost, picked uniformly (empty = close).
    pub drop_modes: Vec<DropMode>,
    /// Requests eligible for lost responses (empty = all).
    pub drop_routes: Vec<RouteFilter>,
    /// RNG seed; random when absent.
    pub seed: Option<u64>,
}

impl FaultConfig {
    /// Reject values that cannot work.
    pub fn validate(&self) -> Result<(), String> {
        for (flag, rate) in [
            ("--fail-rate", self.fail_rate),
            ("--drop-response-rate", self.drop_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!(
                    "{flag} must be a fraction between 0 and 1, got {rate}"
                ));
            }
        }
        if let Some(bad) = self
            .fail_statuses
            .iter()
            .find(|s| !FAIL_STATUSES.contains(s))
        {
            return Err(format!(
                "--fail-status {bad} is not one of {FAIL_STATUSES:?}"
            ));
        }
        Ok(())
    }
}

/// One committed mutation, as the journal keeps it.
#[derive(Debug, Clone)]
struct Committed {
    op: &'static str,
    service_account_id: String,
    name: String,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    refused: Mutex<Vec<(u16, u64)>>,
    retry_after_sent: AtomicU64,
    dropped: Mutex<Vec<(DropMode, u64)>>,
}

fn bump<K: PartialEq>(list: &Mutex<Vec<(K, u64)>>, key: K) {
    let mut list = list.lock().unwrap_or_else(|e| e.into_inner());
    match list.iter_mut().find(|(k, _)| *k == key) {
        Some((_, n)) => *n += 1,
        None => list.push((key, 1)),
    }
}

/// What the fault layer decided for one request.
enum Roll {
    Pass,
    Refuse {
        status: u16,
        retry_after: Option<RetryAfter>,
    },
    Drop(DropMode),
}

#[derive(Clone, Copy)]
enum RetryAfter {
    Seconds(u64),
    Date(u64),
}

/// Fault state: options, the seeded RNG, counters and the mutation journal.
pub struct Faults {
    config: FaultConfig,
    seed: u64,
    rng: Mutex<StdRng>,
    counters: Counters,
    journal: Mutex<Vec<Committed>>,
}

impl Faults {
    /// Set up from options; the seed is random unless given.
    pub fn new(config: FaultConfig) -> Self {
        let seed = config.seed.unwrap_or_else(|| rand::thread_rng().gen());
        Self {
            config,
            seed,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            counters: Counters::default(),
            journal: Mutex::new(Vec::new()),
        }
    }

    /// Whether any fault is configured.
    pub fn active(&self) -> bool {
        self.config.fail_rate > 0.0 || self.config.drop_rate > 0.0
    }

    /// The seed in use.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Record a committed mutation of service account `id`.
    pub fn committed(&self, op: &'static str, id: &str, name: &str) {
        let mut journal = self.journal.lock().unwrap_or_else(|e| e.into_inner());
        if journal.len() < JOURNAL_LIMIT {
            journal.push(Committed {
                op,
                service_account_id: id.to_owned(),
                name: name.to_owned(),
            });
        }
    }

    fn roll(&self, method: &Method, path: &str) -> Roll {
        let c = &self.config;
        let eligible = |routes: &[RouteFilter]| {
            routes.is_empty() || routes.iter().any(|r| r.matches(method, path))
        };
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        // Always draw the same numbers per request, so one fault's settings do not shift the
        // other's sequence.
        let (fail, pick, with_retry_after, date_form, lose_roll, mode) = (
            rng.gen::<f64>(),
            rng.gen::<usize>(),
            rng.gen::<bool>(),
            rng.gen::<bool>(),
            rng.gen::<f64>(),
            rng.gen::<usize>(),
        );
        drop(rng);
        if fail < c.fail_rate && eligible(&c.fail_routes) {
            let statuses: &[u16] = if c.fail_statuses.is_empty() {
                &[429, 500, 503]
            } else {
                &c.fail_statuses
            };
            let status = statuses[pick % statuses.len()];
            let form = if date_form {
                RetryAfter::Date(c.retry_after_secs)
            } else {
                RetryAfter::Seconds(c.retry_after_secs)
            };
            let retry_after = (matches!(status, 429 | 503) && with_retry_after).then_some(form);
            return Roll::Refuse {
                status,
                retry_after,
            };
        }
        if lose_roll < c.drop_rate && eligible(&c.drop_routes) {
            let modes: &[DropMode] = if c.drop_modes.is_empty() {
                &[DropMode::Close]
            } else {
                &c.drop_modes
            };
            return Roll::Drop(modes[mode % modes.len()]);
        }
        Roll::Pass
    }

    /// The `GET /_emulator/stats` document.
    pub fn stats(&self) -> Value {
        let refused = self
            .counters
            .refused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(s, n)| (s.to_string(), json!(n)))
            .collect::<serde_json::Map<_, _>>();
        let dropped = self
            .counters
            .dropped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(m, n)| (m.to_string(), json!(n)))
            .collect::<serde_json::Map<_, _>>();
        let committed: Vec<Value> = self
            .journal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|c| json!({"op": c.op, "serviceAccountId": c.service_account_id, "name": c.name}))
            .collect();
        json!({
            "seed": self.seed,
            "requests": self.counters.requests.load(Ordering::Relaxed),
            "refused": refused,
            "retryAfterSent": self.counters.retry_after_sent.load(Ordering::Relaxed),
            "dropped": dropped,
            "committed": committed,
        })
    }
}

/// Middleware: refuse before, or lose the answer after, as rolled.
pub async fn inject(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if path.starts_with(EMULATOR_PREFIX) {
        return next.run(req).await;
    }
    let faults = &app.faults;
    faults.counters.requests.fetch_add(1, Ordering::Relaxed);
    if !faults.active() {
        return next.run(req).await;
    }
    match faults.roll(req.method(), &path) {
        Roll::Pass => next.run(req).await,
        Roll::Refuse {
            status,
            retry_after,
        } => {
            bump(&faults.counters.refused, status);
            tracing::info!(path = %path, status, "fault: refused before handling");
            refusal(faults, status, retry_after)
        }
        Roll::Drop(mode) => {
            let response = next.run(req).await;
            bump(&faults.counters.dropped, mode);
            tracing::info!(path = %path, mode = %mode, status = response.status().as_u16(), "fault: response lost after handling");
            lose(response, mode).await
        }
    }
}

fn refusal(faults: &Faults, status: u16, retry_after: Option<RetryAfter>) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let message = match status {
        429 => "Too many requests: rate limited (injected fault)",
        503 => "Service unavailable (injected fault)",
        _ => "Internal server error (injected fault)",
    };
    let mut response = ApiError::new(code, "injected_fault", message).into_response();
    let header = retry_after.and_then(|r| {
        let text = match r {
            RetryAfter::Seconds(s) => s.to_string(),
            RetryAfter::Date(s) => {
                httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(s))
            }
        };
        HeaderValue::from_str(&text).ok()
    });
    if let Some(value) = header {
        faults
            .counters
            .retry_after_sent
            .fetch_add(1, Ordering::Relaxed);
        response.headers_mut().insert("retry-after", value);
    }
    response
}

async fn lose(response: Response, mode: DropMode) -> Response {
    match mode {
        DropMode::Close => {
            // The status line may or may not reach the client; the body never does and the
            // connection ends: a response lost mid-flight.
            let (mut parts, _) = response.into_parts();
            parts.headers.remove(axum::http::header::CONTENT_LENGTH);
            // A 204 has no body for the server to fail on: it would arrive complete.
            if parts.status == StatusCode::NO_CONTENT {
                parts.status = StatusCode::OK;
            }
            Response::from_parts(parts, Body::new(BrokenBody))
        }
        DropMode::Error500 => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal server error",
        )
        .into_response(),
        DropMode::Hang => {
            tokio::time::sleep(HANG_LIMIT).await;
            let (parts, _) = response.into_parts();
            Response::from_parts(parts, Body::new(BrokenBody))
        }
    }
}

/// A response body that fails at once, making the server abort the connection.
struct BrokenBody;

impl http_body::Body for BrokenBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "response lost (injected fault)",
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults(config: FaultConfig) -> Faults {
        Faults::new(FaultConfig {
            seed: Some(42),
            ..config
        })
    }

    fn tally(f: &Faults, n: usize, method: &Method, path: &str) -> (usize, usize, Vec<u16>) {
        let (mut refused, mut dropped, mut statuses) = (0, 0, Vec::new());
        for _ in 0..n {
            match f.roll(method, path) {
                Roll::Pass => {}
                Roll::Refuse { status, .. } => {
                    refused += 1;
                    statuses.push(status);
                }
                Roll::Drop(_) => dropped += 1,
            }
        }
        (refused, dropped, statuses)
    }

    #[test]
    fn rates_are_roughly_honoured_and_statuses_mixed() {
        let f = faults(FaultConfig {
            fail_rate: 0.2,
            drop_rate: 0.1,
            ..Default::default()
        });
        let (refused, dropped, statuses) = tally(&f, 10_000, &Method::POST, "/x");
        assert!((1_800..=2_200).contains(&refused), "{refused}");
        // Drops roll only for requests that were not refused: about 10% of 80%.
        assert!((650..=950).contains(&dropped), "{dropped}");
        for s in [429, 500, 503] {
            assert!(statuses.contains(&s), "{s}");
        }
        assert!(statuses.iter().all(|s| [429, 500, 503].contains(s)));
    }

    #[test]
    fn the_same_seed_gives_the_same_faults() {
        let config = FaultConfig {
            fail_rate: 0.3,
            drop_rate: 0.3,
            ..Default::default()
        };
        let a = tally(&faults(config.clone()), 500, &Method::PUT, "/x");
        let b = tally(&faults(config), 500, &Method::PUT, "/x");
        assert_eq!(a, b);
    }

    #[test]
    fn routes_restrict_faults() {
        let f = faults(FaultConfig {
            fail_rate: 1.0,
            fail_routes: vec!["POST /auth/service-accounts".parse().expect("route")],
            drop_rate: 1.0,
            drop_routes: vec!["/auth/action".parse().expect("route")],
            ..Default::default()
        });
        assert!(matches!(
            f.roll(&Method::POST, "/auth/service-accounts"),
            Roll::Refuse { .. }
        ));
        assert!(matches!(
            f.roll(&Method::POST, "/auth/action/init"),
            Roll::Drop(DropMode::Close)
        ));
        assert!(matches!(
            f.roll(&Method::GET, "/auth/service-accounts"),
            Roll::Pass
        ));
    }

    #[test]
    fn options_are_parsed_and_checked() {
        assert_eq!("hang".parse::<DropMode>(), Ok(DropMode::Hang));
        assert_eq!("500".parse::<DropMode>(), Ok(DropMode::Error500));
        assert!("drop".parse::<DropMode>().is_err());
        let r: RouteFilter = "put /auth/service-accounts/".parse().expect("route");
        assert!(r.matches(&Method::PUT, "/auth/service-accounts/us-1/activate"));
        assert!(!r.matches(&Method::GET, "/auth/service-accounts/us-1"));
        assert!("POST auth".parse::<RouteFilter>().is_err());
        let bad_rate = FaultConfig {
            fail_rate: 1.5,
            ..Default::default()
        };
        assert!(bad_rate.validate().is_err());
        let bad_status = FaultConfig {
            fail_statuses: vec![404],
            ..Default::default()
        };
        assert!(bad_status.validate().is_err());
    }
}
