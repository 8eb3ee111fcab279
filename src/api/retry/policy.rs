//! The retry policy: how many attempts, how long between them (full-jitter backoff, at least
//! the server's `Retry-After`), and the parsing of `Retry-After` itself.

use std::time::{Duration, SystemTime};

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
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng as _;

    fn policy() -> RetryPolicy {
        RetryPolicy::default()
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
}
