//! `[retry]`: how many attempts an API call makes, until when, and how long one may take.

use std::time::Duration;

use serde::Deserialize;

use super::error::ConfigError;
use super::{env, fill, Section};
use crate::api::RetryPolicy;

/// Environment variable of the attempts per call.
pub const ENV_MAX_ATTEMPTS: &str = "DFNS_HSM_MAX_ATTEMPTS";
/// Environment variable of the retry deadline in seconds.
pub const ENV_RETRY_DEADLINE: &str = "DFNS_HSM_RETRY_DEADLINE";
/// Environment variable of the per-request timeout in seconds.
pub const ENV_TIMEOUT: &str = "DFNS_HSM_TIMEOUT";

/// `[retry]`, and the settings merged from every layer.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySettings {
    /// Attempts per API call, the first included (1 = no retries; default 6; at most 100).
    pub max_attempts: Option<u32>,
    /// Start no new attempt of a call after this many seconds (default 60).
    pub deadline_secs: Option<u64>,
    /// Limit for one HTTP request, response included, in seconds (default 30; at least 1).
    pub timeout_secs: Option<u64>,
}

impl Section for RetrySettings {
    fn or(mut self, lower: Self) -> Self {
        fill(&mut self.max_attempts, lower.max_attempts);
        fill(&mut self.deadline_secs, lower.deadline_secs);
        fill(&mut self.timeout_secs, lower.timeout_secs);
        self
    }

    fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            max_attempts: env::parse(ENV_MAX_ATTEMPTS)?,
            deadline_secs: env::parse(ENV_RETRY_DEADLINE)?,
            timeout_secs: env::parse(ENV_TIMEOUT)?,
        })
    }
}

impl RetrySettings {
    /// The retry policy: the client's default with what is set here.
    pub fn policy(&self) -> Result<RetryPolicy, ConfigError> {
        let mut policy = RetryPolicy::default();
        if let Some(n) = self.max_attempts {
            if !(1..=100).contains(&n) {
                return Err(ConfigError::OutOfRange {
                    setting: "max_attempts",
                    value: n.into(),
                    allowed: "from 1 to 100",
                });
            }
            policy.max_attempts = n;
        }
        if let Some(secs) = self.deadline_secs {
            policy.deadline = Some(Duration::from_secs(secs));
        }
        Ok(policy)
    }

    /// The per-request timeout, when set.
    pub fn request_timeout(&self) -> Result<Option<Duration>, ConfigError> {
        match self.timeout_secs {
            Some(0) => Err(ConfigError::OutOfRange {
                setting: "timeout_secs",
                value: 0,
                allowed: "at least 1",
            }),
            other => Ok(other.map(Duration::from_secs)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_sets_retries_and_flags_win() {
        let profile: crate::config::ConfigFile =
            toml::from_str("[retry]\nmax_attempts = 2\ndeadline_secs = 5\ntimeout_secs = 7\n")
                .unwrap();
        let s = RetrySettings {
            max_attempts: Some(9),
            ..Default::default()
        }
        .or(profile.retry);
        let policy = s.policy().unwrap();
        assert_eq!(policy.max_attempts, 9);
        assert_eq!(policy.deadline, Some(Duration::from_secs(5)));
        assert_eq!(s.request_timeout().unwrap(), Some(Duration::from_secs(7)));
    }

    #[test]
    fn out_of_range_values_are_refused() {
        let s = RetrySettings {
            max_attempts: Some(0),
            timeout_secs: Some(0),
            ..Default::default()
        };
        assert!(matches!(
            s.policy(),
            Err(ConfigError::OutOfRange {
                setting: "max_attempts",
                ..
            })
        ));
        assert!(s.request_timeout().is_err());
    }
}
