//! Retries: the policy and its backoff ([`RetryPolicy`]), what a failed attempt means for the
//! request it carried (the classifier), the budget of one call, the counters ([`RetryStats`]),
//! and the two retry loops, plain and reconciled.
//!
//! The rules, in one place:
//!
//! | what happened | class | a read (GET) | a mutation |
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
//! (see [`ServiceAccounts`](super::ServiceAccounts), which says how to check each call); a
//! generic [`call`](super::DfnsClient::call) has no way to check, so it stops with
//! [`ApiError::OutcomeUnknown`](super::ApiError::OutcomeUnknown) instead of sending the
//! mutation again.
//!
//! 503 is treated as a refusal (RFC 9110: the server "is currently unable to handle the
//! request"); 500, 502 and 504 are not, because a server or a proxy may answer them after the
//! work was done.
//!
//! Files: `policy` (the policy, backoff, `Retry-After`), `classify` (the table above),
//! `budget` (attempts and time of one call), `stats` (counters), `reconcile` (the loops and
//! what a check reports).

mod budget;
mod classify;
mod policy;
mod reconcile;
mod stats;

pub(crate) use classify::is_safe_method;
pub(crate) use policy::parse_retry_after;
pub use policy::{
    RetryPolicy, DEFAULT_BASE_DELAY, DEFAULT_DEADLINE, DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_DELAY,
    DEFAULT_MAX_RETRY_AFTER, DEFAULT_MULTIPLIER,
};
pub(crate) use reconcile::{Check, Retries, Settled};
pub(crate) use stats::Counters;
pub use stats::RetryStats;
