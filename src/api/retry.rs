//! Retries: the policy, the backoff, `Retry-After`, and the classifier that says what a failed
//! attempt means for the request it carried.
//!
//! The rules, in one place:
//!
//! | what happened | [`Failure`] | a read (GET) | a mutation |
//! |---|---|---|---|
//! | connect refused / DNS / TLS / connect timeout | `NotApplied` | retry | retry (fresh user action) |
//! | HTTP 429 or 503 (the server refused it) | `NotApplied` | retry | retry (fresh user action) |
//! | request timeout after sending | `Unknown` | retry | reconcile first |
//! | connection lost after sending, body cut short | `Unknown` | retry | reconcile first |
//! | HTTP 500, 502, 504 (maybe done, then failed) | `Unknown` | retry | reconcile first |
//! | any failure inside the user-action flow (init, signature exchange) that is not final | `NotApplied` | – | retry (fresh user action) |
//! | any other status (4xx, 501, ...), signer, config, a request that cannot be built, undecodable 2xx | `Final` | stop | stop (reconcile if an earlier attempt is in doubt) |
//!
//! "Reconcile" means: read the resource and decide whether the mutation is already in effect
//! (see [`ServiceAccounts`](super::ServiceAccounts)); a generic
//! [`call`](super::DfnsClient::call) has no way to check, so it stops with
//! [`ApiError::OutcomeUnknown`] instead of sending the mutation again.
//!
//! 503 is treated as a refusal (RFC 9110: the server "is currently unable to handle the
//! request"); 500, 502 and 504 are not, because a server or a proxy may answer them after the
//! work was done.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use reqwest::Method;

use super::error::ApiError;

/// Default number of attempts per call, the first included.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 6;
/// Default ceiling of the first backoff.
pub const DEFAULT_BASE_DELAY: Duration = Duration::from_millis(100);
/// Default growth of the backoff ceiling per retry.
pub const DEFAULT_MULTIPLIER: u32 = 2;
/// Default cap of one backoff.
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(5);
/// Default time after which a call starts no new attempt.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(60);
/// Default longest `Retry-After` the client is willing to wait.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// How a call retries. `Default` is the client's default; [`RetryPolicy::disabled`] sends once.
///
/// Before retry `n` (1-based) the client sleeps a uniformly random time between zero and
/// `min(max_delay, base_delay * multiplier^(n-1))` ("full jitter"), or at least the server's
/// `Retry-After` when it sent one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per call, the first included (1 = never retry). Default 6.
    pub max_attempts: u32,
    /// Ceiling of the first backoff. Default 100 ms.
    pub base_delay: Duration,
    /// Growth of the ceiling per retry. Default 2.
    pub multiplier: u32,
    /// Cap of any one backoff (not of `Retry-After`). Default 5 s.
    pub max_delay: Duration,
    /// No new attempt starts later than this after the call began; `None` = no limit.
    /// Default 60 s.
    pub deadline: Option<Duration>,
    /// A `Retry-After` longer than this ends the call instead of waiting. Default 30 s.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            base_delay: DEFAULT_BASE_DELAY,
            multiplier: DEFAULT_MULTIPLIER,
            max_delay: DEFAULT_MAX_DELAY,
            deadline: Some(DEFAULT_DEADLINE),
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
        }
    }
}

impl RetryPolicy {
    /// One attempt, no retries. Reconciliation still runs when a mutation's outcome is
    /// unknown, so a lost response is still reported correctly.
    pub fn disabled() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Reject settings that cannot work.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_attempts == 0 {
            return Err("max_attempts must be at least 1".into());
        }
        if self.multiplier == 0 {
            return Err("the backoff multiplier must be at least 1".into());
        }
        if self.max_delay < self.base_delay {
            return Err("max_delay must not be shorter than base_delay".into());
        }
        Ok(())
    }

    /// Upper bound of the backoff before retry `retry` (1-based): `min(max_delay,
    /// base_delay * multiplier^(retry-1))`.
    pub fn backoff_ceiling(&self, retry: u32) -> Duration {
        let factor = self
            .multiplier
            .checked_pow(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.base_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }

    /// A full-jitter backoff before retry `retry`: uniform in `[0, backoff_ceiling(retry)]`.
    pub fn backoff(&self, retry: u32, rng: &mut impl rand::Rng) -> Duration {
        let ceiling = u64::try_from(self.backoff_ceiling(retry).as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rng.gen_range(0..=ceiling))
    }

    /// The wait before retry `retry`: the jittered backoff, but never less than `retry_after`.
    pub fn delay(
        &self,
        retry: u32,
        retry_after: Option<Duration>,
        rng: &mut impl rand::Rng,
    ) -> Duration {
        let backoff = self.backoff(retry, rng);
        retry_after.map_or(backoff, |r| r.max(backoff))
    }
}

/// Parse a `Retry-After` value: delay-seconds (`120`) or an HTTP date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`), as a wait from `now`. A date in the past is zero;
/// anything else unparsable is `None` (ignored).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Absurdly long numbers saturate; the policy's `max_retry_after` will refuse them.
        return Some(Duration::from_secs(
            value.parse::<u64>().unwrap_or(u64::MAX),
        ));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// What a failed attempt says about the request it carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The request certainly had no effect: it never reached the server, the server refused
    /// it (429, 503), or the user-action flow before it failed. Sending it again is safe.
    NotApplied {
        /// The server's `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
    /// The request may or may not have taken effect: a timeout or a lost connection after it
    /// was sent, or a 500/502/504. A read can be sent again; a mutation must be reconciled.
    Unknown {
        /// The server's `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
    /// A definite answer another attempt would not change (4xx, a signer or configuration
    /// error, an undecodable success, or an error this layer already concluded).
    Final,
}

impl Failure {
    /// Whether another attempt could succeed (always true except for `Final`).
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Failure::Final)
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Failure::NotApplied { retry_after } | Failure::Unknown { retry_after } => *retry_after,
            Failure::Final => None,
        }
    }
}

/// Classify the error of one attempt (see the module table).
pub fn classify(err: &ApiError) -> Failure {
    match err {
        ApiError::Http(e) => {
            let retry_after = e.retry_after;
            match e.status {
                429 | 503 => Failure::NotApplied { retry_after },
                500 | 502 | 504 => Failure::Unknown { retry_after },
                _ => Failure::Final,
            }
        }
        ApiError::Timeout { phase, .. } => {
            if *phase == "connect" {
                Failure::NotApplied { retry_after: None }
            } else {
                Failure::Unknown { retry_after: None }
            }
        }
        ApiError::Transport { source, .. } => {
            if source.is_builder() {
                // The request could not even be built: nothing was sent, and nothing will be.
                Failure::Final
            } else if source.is_connect() {
                Failure::NotApplied { retry_after: None }
            } else {
                Failure::Unknown { retry_after: None }
            }
        }
        // Challenges and user-action tokens change nothing the caller cares about: whatever
        // happened to them, the request itself was not sent.
        ApiError::UserAction { source, .. } => match classify(source) {
            Failure::Final => Failure::Final,
            other => Failure::NotApplied {
                retry_after: other.retry_after(),
            },
        },
        // The HSM failed to sign (after its own one retry) with a fault that may pass: the
        // request was not sent, so the whole user action can run again.
        ApiError::Signer(e) if e.is_transient() => Failure::NotApplied { retry_after: None },
        ApiError::Signer(_)
        | ApiError::NoSigner { .. }
        | ApiError::UnexpectedResponse { .. }
        | ApiError::InvalidRequest(_)
        | ApiError::Config(_)
        | ApiError::OutcomeUnknown { .. }
        | ApiError::CreatedTokenLost { .. }
        | ApiError::RetriesExhausted { .. } => Failure::Final,
    }
}

/// What a reconciliation check found.
pub(crate) enum Check<T> {
    /// The mutation is in effect; this is the resource as it now is.
    Applied(T),
    /// The mutation is not in effect: sending it again is safe.
    NotApplied,
}

/// How a reconciled mutation ended.
pub(crate) enum Settled<T> {
    /// The server answered an attempt.
    Answered(super::outcome::Outcome<T>),
    /// No answer came back for an attempt, and a check found the change in effect.
    Reconciled {
        /// The resource as the check read it.
        value: T,
        /// What happened to the attempt whose answer was lost.
        cause: ApiError,
    },
}

/// Whether a method only reads (so sending it twice is harmless).
pub fn is_safe_method(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A short, secret-free label of an error for logs: `HTTP 503`, `request timeout`, ...
pub(crate) fn label(err: &ApiError) -> String {
    match err {
        ApiError::Http(e) => format!("HTTP {}", e.status),
        ApiError::Timeout { phase, .. } => format!("{phase} timeout"),
        ApiError::Transport { source, .. } if source.is_connect() => "cannot connect".into(),
        ApiError::Transport { .. } => "connection lost".into(),
        ApiError::UserAction { source, .. } => format!("user-action flow: {}", label(source)),
        _ => "error".into(),
    }
}

/// Counters of one client and its clones, for monitoring and tests.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    requests: AtomicU64,
    attempts: AtomicU64,
    retries: AtomicU64,
    reconciliations: AtomicU64,
    reconciled_applied: AtomicU64,
    outcome_unknown: AtomicU64,
    tokens_lost: AtomicU64,
    gave_up: AtomicU64,
}

/// A snapshot of a client's retry counters (shared by its clones).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryStats {
    /// HTTP requests sent, user-action steps and reconciliation reads included.
    pub requests: u64,
    /// Attempts of calls: a signed attempt is the whole flow (init, signature, request).
    pub attempts: u64,
    /// Attempts that followed a failed one.
    pub retries: u64,
    /// Times a mutation's outcome was unknown (or in doubt) and its state was checked.
    pub reconciliations: u64,
    /// Checks that found the mutation already in effect (so it was not sent again).
    pub reconciled_applied: u64,
    /// Calls that ended with [`ApiError::OutcomeUnknown`].
    pub outcome_unknown: u64,
    /// Creates that ended with [`ApiError::CreatedTokenLost`].
    pub tokens_lost: u64,
    /// Calls that ended with [`ApiError::RetriesExhausted`].
    pub gave_up: u64,
}

impl Counters {
    pub fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub fn reconciliation(&self, applied: bool) {
        self.reconciliations.fetch_add(1, Ordering::Relaxed);
        if applied {
            self.reconciled_applied.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Count a call's final error by kind.
    pub fn ended_with(&self, err: &ApiError) {
        let counter = match err {
            ApiError::OutcomeUnknown { .. } => &self.outcome_unknown,
            ApiError::CreatedTokenLost { .. } => &self.tokens_lost,
            ApiError::RetriesExhausted { .. } => &self.gave_up,
            _ => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> RetryStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RetryStats {
            requests: get(&self.requests),
            attempts: get(&self.attempts),
            retries: get(&self.retries),
            reconciliations: get(&self.reconciliations),
            reconciled_applied: get(&self.reconciled_applied),
            outcome_unknown: get(&self.outcome_unknown),
            tokens_lost: get(&self.tokens_lost),
            gave_up: get(&self.gave_up),
        }
    }
}

/// Why a call stops retrying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GiveUpReason {
    /// `max_attempts` were made.
    Attempts,
    /// The next attempt would start after the deadline.
    Deadline,
    /// The server asked for a longer wait than `max_retry_after`.
    RetryAfterTooLong(Duration),
}

impl std::fmt::Display for GiveUpReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GiveUpReason::Attempts => f.write_str("no attempts left"),
            GiveUpReason::Deadline => f.write_str("the retry deadline would pass"),
            GiveUpReason::RetryAfterTooLong(d) => write!(
                f,
                "the server asked to retry after {}s, longer than the client waits",
                d.as_secs()
            ),
        }
    }
}

/// The retry state of one call: attempts made and time spent.
pub(crate) struct Budget<'a> {
    policy: &'a RetryPolicy,
    counters: &'a Counters,
    method: &'a Method,
    path: &'a str,
    started: Instant,
    attempts: u32,
}

impl<'a> Budget<'a> {
    pub fn new(
        policy: &'a RetryPolicy,
        counters: &'a Counters,
        method: &'a Method,
        path: &'a str,
    ) -> Self {
        Self {
            policy,
            counters,
            method,
            path,
            started: Instant::now(),
            attempts: 0,
        }
    }

    /// Count the attempt about to start.
    pub fn begin_attempt(&mut self) {
        self.attempts += 1;
        self.counters.attempts.fetch_add(1, Ordering::Relaxed);
        if self.attempts > 1 {
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Attempts made so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Sleep before the next attempt after `err`, or say why there is none.
    pub async fn pause(&mut self, err: &ApiError) -> Result<(), GiveUpReason> {
        if self.attempts >= self.policy.max_attempts {
            return Err(GiveUpReason::Attempts);
        }
        let retry_after = classify(err).retry_after();
        if let Some(r) = retry_after {
            if r > self.policy.max_retry_after {
                return Err(GiveUpReason::RetryAfterTooLong(r));
            }
        }
        let delay = self
            .policy
            .delay(self.attempts, retry_after, &mut rand::thread_rng());
        if let Some(limit) = self.policy.deadline {
            if self.started.elapsed() + delay > limit {
                return Err(GiveUpReason::Deadline);
            }
        }
        tracing::warn!(
            method = %self.method,
            path = self.path,
            attempt = self.attempts,
            failure = %label(err),
            retry_after_ms = retry_after.map(|d| d.as_millis() as u64),
            delay_ms = delay.as_millis() as u64,
            "dfns api attempt failed, retrying"
        );
        tokio::time::sleep(delay).await;
        Ok(())
    }

    /// The error that ends a call after `reason`: `last` itself when it was the only attempt.
    pub fn exhausted(&self, last: ApiError, reason: GiveUpReason) -> ApiError {
        if self.attempts <= 1 {
            return last;
        }
        ApiError::RetriesExhausted {
            method: self.method.clone(),
            target: self.path.to_owned(),
            attempts: self.attempts,
            elapsed: self.started.elapsed(),
            reason,
            last: Box::new(last),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::error::HttpError;
    use rand::SeedableRng as _;

    fn policy() -> RetryPolicy {
        RetryPolicy::default()
    }

    fn http(status: u16, retry_after: Option<Duration>) -> ApiError {
        let mut e = HttpError::from_body(status, Method::POST, "/x".into(), b"");
        e.retry_after = retry_after;
        e.into()
    }

    #[test]
    fn defaults_are_sane_and_validated() {
        let p = policy();
        assert_eq!(p.max_attempts, 6);
        assert_eq!(p.base_delay, Duration::from_millis(100));
        assert_eq!(p.multiplier, 2);
        assert_eq!(p.max_delay, Duration::from_secs(5));
        assert_eq!(p.deadline, Some(Duration::from_secs(60)));
        assert!(p.validate().is_ok());
        assert_eq!(RetryPolicy::disabled().max_attempts, 1);
        for bad in [
            RetryPolicy {
                max_attempts: 0,
                ..policy()
            },
            RetryPolicy {
                multiplier: 0,
                ..policy()
            },
            RetryPolicy {
                max_delay: Duration::from_millis(1),
                ..policy()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_ceiling_doubles_and_is_capped() {
        let p = policy();
        let ms = |n| p.backoff_ceiling(n).as_millis();
        assert_eq!(
            (ms(1), ms(2), ms(3), ms(4), ms(5), ms(6), ms(7)),
            (100, 200, 400, 800, 1600, 3200, 5000)
        );
        assert_eq!(p.backoff_ceiling(1_000), Duration::from_secs(5));
        assert_eq!(p.backoff_ceiling(u32::MAX), Duration::from_secs(5));
        let flat = RetryPolicy {
            multiplier: 1,
            ..policy()
        };
        assert_eq!(flat.backoff_ceiling(50), Duration::from_millis(100));
    }

    #[test]
    fn full_jitter_stays_in_range_and_spreads() {
        let p = policy();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for retry in 1..=8 {
            let ceiling = p.backoff_ceiling(retry);
            let samples: Vec<Duration> = (0..500).map(|_| p.backoff(retry, &mut rng)).collect();
            assert!(samples.iter().all(|d| *d <= ceiling), "retry {retry}");
            // Full jitter: values near zero and near the ceiling both occur.
            assert!(samples.iter().any(|d| *d < ceiling / 4), "retry {retry}");
            assert!(
                samples.iter().any(|d| *d > ceiling * 3 / 4),
                "retry {retry}"
            );
        }
    }

    #[test]
    fn retry_after_is_a_floor_not_a_ceiling() {
        let p = policy();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for _ in 0..200 {
            let d = p.delay(1, Some(Duration::from_secs(2)), &mut rng);
            assert_eq!(d, Duration::from_secs(2), "backoff(1) <= 100ms < 2s");
            let d = p.delay(7, Some(Duration::from_millis(10)), &mut rng);
            assert!(d >= Duration::from_millis(10) && d <= Duration::from_secs(5));
        }
    }

    #[test]
    fn retry_after_parses_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480); // 2015-10-21T07:28:00Z
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
        for junk in ["", "-1", "1.5", "soon", "Wed, 32 Oct 2015 07:28:00 GMT"] {
            assert_eq!(parse_retry_after(junk, now), None, "{junk:?}");
        }
    }

    #[test]
    fn refusals_are_safe_to_resend() {
        let r = Some(Duration::from_secs(3));
        assert_eq!(
            classify(&http(429, r)),
            Failure::NotApplied { retry_after: r }
        );
        assert_eq!(
            classify(&http(503, None)),
            Failure::NotApplied { retry_after: None }
        );
    }

    #[test]
    fn server_errors_that_may_follow_the_work_are_unknown() {
        for status in [500, 502, 504] {
            assert_eq!(
                classify(&http(status, None)),
                Failure::Unknown { retry_after: None },
                "{status}"
            );
        }
    }

    #[test]
    fn definite_answers_are_final() {
        for status in [301, 400, 401, 403, 404, 409, 413, 501, 505] {
            assert_eq!(classify(&http(status, None)), Failure::Final, "{status}");
        }
        assert_eq!(
            classify(&ApiError::InvalidRequest("x".into())),
            Failure::Final
        );
        assert_eq!(
            classify(&ApiError::NoSigner {
                method: Method::POST,
                target: "/x".into()
            }),
            Failure::Final
        );
        assert_eq!(
            classify(&ApiError::UnexpectedResponse {
                method: Method::POST,
                target: "/x".into(),
                status: 200,
                reason: "bad".into(),
                body: crate::api::RawBody(String::new()),
            }),
            Failure::Final,
            "a 2xx was done: never resend it"
        );
    }

    #[test]
    fn timeouts_split_by_phase() {
        let t = |phase| ApiError::Timeout {
            method: Method::PUT,
            target: "/x".into(),
            host: "h".into(),
            phase,
            after: Duration::from_secs(1),
        };
        assert_eq!(
            classify(&t("connect")),
            Failure::NotApplied { retry_after: None }
        );
        assert_eq!(
            classify(&t("request")),
            Failure::Unknown { retry_after: None }
        );
    }

    #[test]
    fn the_user_action_flow_never_leaves_an_outcome_unknown() {
        let wrap = |e: ApiError| ApiError::UserAction {
            method: Method::DELETE,
            target: "/auth/service-accounts/us-1".into(),
            source: Box::new(e),
        };
        let r = Some(Duration::from_secs(1));
        assert_eq!(
            classify(&wrap(http(500, r))),
            Failure::NotApplied { retry_after: r }
        );
        assert_eq!(
            classify(&wrap(http(429, None))),
            Failure::NotApplied { retry_after: None }
        );
        assert_eq!(classify(&wrap(http(403, None))), Failure::Final);
        assert_eq!(classify(&wrap(http(400, None))), Failure::Final);
    }

    #[test]
    fn concluded_errors_are_final() {
        let e = ApiError::OutcomeUnknown {
            method: Method::POST,
            target: "/x".into(),
            attempts: 1,
            source: Box::new(http(500, None)),
            check: None,
        };
        assert_eq!(classify(&e), Failure::Final);
        let e = ApiError::RetriesExhausted {
            method: Method::GET,
            target: "/x".into(),
            attempts: 3,
            elapsed: Duration::from_secs(1),
            reason: GiveUpReason::Attempts,
            last: Box::new(http(503, None)),
        };
        assert_eq!(classify(&e), Failure::Final);
        assert_eq!(e.status(), Some(503), "the last status stays visible");
    }

    #[test]
    fn safe_methods() {
        assert!(is_safe_method(&Method::GET));
        assert!(is_safe_method(&Method::HEAD));
        assert!(!is_safe_method(&Method::POST));
        assert!(!is_safe_method(&Method::PUT));
        assert!(!is_safe_method(&Method::DELETE));
    }

    #[tokio::test]
    async fn the_budget_stops_at_max_attempts_deadline_and_long_retry_after() {
        let counters = Counters::default();
        let p = RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            ..policy()
        };
        let m = Method::GET;
        let mut b = Budget::new(&p, &counters, &m, "/x");
        let e = http(503, None);
        b.begin_attempt();
        assert!(b.pause(&e).await.is_ok());
        b.begin_attempt();
        assert!(b.pause(&e).await.is_ok());
        b.begin_attempt();
        assert_eq!(b.pause(&e).await, Err(GiveUpReason::Attempts));
        let stats = counters.snapshot();
        assert_eq!((stats.attempts, stats.retries), (3, 2));
        let err = b.exhausted(e, GiveUpReason::Attempts);
        assert!(matches!(
            err,
            ApiError::RetriesExhausted { attempts: 3, .. }
        ));
        assert!(err.to_string().contains("after 3 attempts"), "{err}");

        let mut b = Budget::new(&p, &counters, &m, "/x");
        b.begin_attempt();
        let long = http(429, Some(Duration::from_secs(31)));
        assert_eq!(
            b.pause(&long).await,
            Err(GiveUpReason::RetryAfterTooLong(Duration::from_secs(31)))
        );
        // A single attempt's error is returned as it is.
        assert!(matches!(
            b.exhausted(long, GiveUpReason::Attempts),
            ApiError::Http(_)
        ));

        let tight = RetryPolicy {
            deadline: Some(Duration::from_millis(50)),
            ..p
        };
        let mut b = Budget::new(&tight, &counters, &m, "/x");
        b.begin_attempt();
        let e = http(503, Some(Duration::from_millis(100)));
        assert_eq!(b.pause(&e).await, Err(GiveUpReason::Deadline));
    }
}
