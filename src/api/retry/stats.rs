//! Retry counters: one set per client (shared by its clones), read as [`RetryStats`].

use std::sync::atomic::{AtomicU64, Ordering};

use crate::api::error::ApiError;

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
    /// Count one HTTP request sent.
    pub fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Count an attempt of a call; `retry` when an attempt came before it.
    pub fn attempt(&self, retry: bool) {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        if retry {
            self.retries.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Count a reconciliation check, and whether it found the mutation in effect.
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

    /// The counters as they are now.
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
