//! The retry budget of one call: attempts made, time spent, and the pause before the next.

use std::time::Instant;

use reqwest::Method;

use super::classify::{classify, label};
use super::policy::RetryPolicy;
use super::stats::Counters;
use crate::api::error::{ApiError, GiveUpReason};

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
    /// Start the budget of one call of `method` on `path`, its clock running from now.
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
        self.counters.attempt(self.attempts > 1);
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
    use std::time::Duration;

    use super::*;
    use crate::api::http_error::HttpError;

    fn policy() -> RetryPolicy {
        RetryPolicy::default()
    }

    fn http(status: u16, retry_after: Option<Duration>) -> ApiError {
        let mut e = HttpError::from_body(status, Method::POST, "/x".into(), b"");
        e.retry_after = retry_after;
        e.into()
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
