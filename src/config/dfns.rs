//! `[dfns]`: the API, the calling identity (token, signing key, credential id), the audit log.

use std::path::PathBuf;

use serde::Deserialize;

use super::error::ConfigError;
use super::key_ref::KeyRef;
use super::{env, fill, Section};
use crate::api::{ApiUrl, DEFAULT_API_URL, ENV_AUTH_TOKEN_FILE};

/// Environment variable of the API base URL.
pub const ENV_API_URL: &str = "DFNS_API_URL";
/// Environment variable of the signing key's credential id.
pub const ENV_CRED_ID: &str = "DFNS_CRED_ID";
/// Environment variable of the signing key reference.
pub const ENV_SIGNING_KEY: &str = "DFNS_SIGNING_KEY";
/// Environment variable of the audit log path.
pub const ENV_AUDIT_LOG: &str = "DFNS_HSM_AUDIT_LOG";
/// Environment variable of the days before the auth token's expiry that `doctor` warns.
pub const ENV_EXPIRY_WARNING_DAYS: &str = "DFNS_HSM_EXPIRY_WARNING_DAYS";
/// Days before the auth token's expiry that `doctor` warns, unless set.
pub const DEFAULT_EXPIRY_WARNING_DAYS: u32 = 30;

/// `[dfns]`, and the settings merged from every layer.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DfnsSettings {
    /// API base URL (default `https://api.dfns.io`).
    pub api_url: Option<String>,
    /// File holding the caller's Dfns auth token (mode 0600).
    pub auth_token_file: Option<PathBuf>,
    /// Credential id of the signing key.
    pub cred_id: Option<String>,
    /// Key reference of the signing key.
    pub signing_key: Option<String>,
    /// Append one JSON line per user-action signature to this file (created 0600).
    pub audit_log: Option<PathBuf>,
    /// `doctor` warns when the auth token expires within this many days (default 30; 0 never
    /// warns).
    pub expiry_warning_days: Option<u32>,
}

impl Section for DfnsSettings {
    fn or(mut self, lower: Self) -> Self {
        fill(&mut self.api_url, lower.api_url);
        fill(&mut self.auth_token_file, lower.auth_token_file);
        fill(&mut self.cred_id, lower.cred_id);
        fill(&mut self.signing_key, lower.signing_key);
        fill(&mut self.audit_log, lower.audit_log);
        fill(&mut self.expiry_warning_days, lower.expiry_warning_days);
        self
    }

    fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            api_url: env::string(ENV_API_URL)?,
            auth_token_file: env::path(ENV_AUTH_TOKEN_FILE),
            cred_id: env::string(ENV_CRED_ID)?,
            signing_key: env::string(ENV_SIGNING_KEY)?,
            audit_log: env::path(ENV_AUDIT_LOG),
            expiry_warning_days: env::parse(ENV_EXPIRY_WARNING_DAYS)?,
        })
    }
}

impl DfnsSettings {
    /// The API base URL, or the default.
    pub fn api_url(&self) -> Result<ApiUrl, ConfigError> {
        Ok(ApiUrl::parse(
            self.api_url.as_deref().unwrap_or(DEFAULT_API_URL),
        )?)
    }

    /// The days before the auth token's expiry that `doctor` warns (default 30).
    pub fn expiry_warning_days(&self) -> u32 {
        self.expiry_warning_days
            .unwrap_or(DEFAULT_EXPIRY_WARNING_DAYS)
    }

    /// Whether an API URL was configured at any layer (the default does not count).
    pub fn api_configured(&self) -> bool {
        self.api_url.is_some()
    }

    /// The signing identity, if both halves are given: the key and its credential id.
    pub fn identity(&self) -> Result<Option<(KeyRef, String)>, ConfigError> {
        match (&self.signing_key, &self.cred_id) {
            (Some(k), Some(c)) => Ok(Some((k.parse()?, c.clone()))),
            (None, None) => Ok(None),
            (Some(_), None) => Err(ConfigError::HalfIdentity { given: "key" }),
            (None, Some(_)) => Err(ConfigError::HalfIdentity {
                given: "credential id",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_an_identity_is_an_error() {
        let s = DfnsSettings {
            cred_id: Some("c".into()),
            ..Default::default()
        };
        assert!(matches!(
            s.identity(),
            Err(ConfigError::HalfIdentity {
                given: "credential id"
            })
        ));
        let s = DfnsSettings {
            signing_key: Some("k".into()),
            ..Default::default()
        };
        assert!(matches!(
            s.identity(),
            Err(ConfigError::HalfIdentity { given: "key" })
        ));
    }

    #[test]
    fn the_expiry_warning_layers_like_the_rest() {
        let profile: crate::config::ConfigFile =
            toml::from_str("[dfns]\nexpiry_warning_days = 7\n").unwrap();
        assert_eq!(profile.dfns.expiry_warning_days(), 7);
        let flag = DfnsSettings {
            expiry_warning_days: Some(90),
            ..Default::default()
        };
        assert_eq!(flag.or(profile.dfns.clone()).expiry_warning_days(), 90);
        assert_eq!(DfnsSettings::default().expiry_warning_days(), 30);
        assert!(
            toml::from_str::<crate::config::ConfigFile>("[dfns]\nexpiry_warning_days = -1\n")
                .is_err()
        );
    }

    #[test]
    fn the_audit_log_layers_like_the_rest() {
        let profile: crate::config::ConfigFile =
            toml::from_str("[dfns]\naudit_log = \"/p.log\"\ncred_id = \"c\"\n").unwrap();
        let s = DfnsSettings {
            audit_log: Some("/flag.log".into()),
            ..Default::default()
        }
        .or(profile.dfns);
        assert_eq!(s.audit_log, Some(PathBuf::from("/flag.log")));
        assert_eq!(s.cred_id.as_deref(), Some("c"));
    }
}
