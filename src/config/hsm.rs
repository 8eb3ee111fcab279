//! `[hsm]`: which module and token, how to log in, the session pool and the key template.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::ConfigError;
use super::{env, fill, Section};
use crate::hsm::{PinSource, Pkcs11Uri, TokenOptions, TokenSelector, DEFAULT_PIN_ENV};

/// Environment variable of the module path.
pub const ENV_MODULE: &str = "DFNS_HSM_MODULE";
/// Environment variable of the token label.
pub const ENV_TOKEN: &str = "DFNS_HSM_TOKEN";
/// Environment variable of the token serial.
pub const ENV_TOKEN_SERIAL: &str = "DFNS_HSM_TOKEN_SERIAL";
/// Environment variable of the PIN source.
pub const ENV_PIN_SOURCE: &str = "DFNS_HSM_PIN_SOURCE";

/// `[hsm]`, and the settings merged from every layer.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HsmSettings {
    /// PKCS#11 library path.
    pub module: Option<PathBuf>,
    /// Token label.
    pub token: Option<String>,
    /// Token serial (instead of the label).
    pub serial: Option<String>,
    /// `env:VAR`, `file:PATH` or `prompt`.
    pub pin_source: Option<String>,
    /// `C_Initialize` pReserved string (YubiHSM connector, NSS).
    pub init_args: Option<String>,
    /// Cap on worker sessions (default 8, further capped by the token).
    pub max_sessions: Option<usize>,
    /// `CKA_PRIVATE` of generated public keys (default true; nShield needs false).
    pub public_key_private: Option<bool>,
    /// Seconds an operation waits for a vanished token before giving up (default 60).
    pub recovery_budget_secs: Option<u64>,
    /// Length in bytes of the random `CKA_ID` of generated keys (default 16; YubiHSM: 2).
    pub key_id_bytes: Option<usize>,
}

impl Section for HsmSettings {
    fn or(mut self, lower: Self) -> Self {
        // A token selector given at a higher layer replaces the lower one, whichever kind.
        if self.token.is_none() && self.serial.is_none() {
            self.token = lower.token;
            self.serial = lower.serial;
        }
        fill(&mut self.module, lower.module);
        fill(&mut self.pin_source, lower.pin_source);
        fill(&mut self.init_args, lower.init_args);
        fill(&mut self.max_sessions, lower.max_sessions);
        fill(&mut self.public_key_private, lower.public_key_private);
        fill(&mut self.recovery_budget_secs, lower.recovery_budget_secs);
        fill(&mut self.key_id_bytes, lower.key_id_bytes);
        self
    }

    fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            module: env::path(ENV_MODULE),
            token: env::string(ENV_TOKEN)?,
            serial: env::string(ENV_TOKEN_SERIAL)?,
            pin_source: env::string(ENV_PIN_SOURCE)?,
            ..Self::default()
        })
    }
}

impl HsmSettings {
    /// Apply what a `pkcs11:` URI says (it is the most specific reference, so it wins).
    pub fn with_uri(mut self, uri: &Pkcs11Uri) -> Result<Self, ConfigError> {
        if let Some(sel) = uri.token_selector()? {
            match sel {
                TokenSelector::Label(l) => {
                    self.token = Some(l);
                    self.serial = None;
                }
                TokenSelector::Serial(s) => {
                    self.serial = Some(s);
                    self.token = None;
                }
            }
        }
        // The operator chooses the library; a URI (from a flag, DFNS_SIGNING_KEY or a profile)
        // may only name the same one again.
        if let Some(named) = &uri.module_path {
            match &self.module {
                Some(configured) if same_file(named, configured) => {}
                configured => {
                    return Err(ConfigError::UriModulePath {
                        named: named.clone(),
                        configured: configured.clone(),
                    })
                }
            }
        }
        if let Some(p) = &uri.pin_source {
            self.pin_source = Some(p.clone());
        }
        Ok(self)
    }

    /// The module path.
    pub fn module_path(&self) -> Result<&Path, ConfigError> {
        self.module.as_deref().ok_or(ConfigError::NoModule)
    }

    /// Exactly one token selector.
    pub fn selector(&self) -> Result<TokenSelector, ConfigError> {
        match (&self.token, &self.serial) {
            (Some(l), None) => Ok(TokenSelector::Label(l.clone())),
            (None, Some(s)) => Ok(TokenSelector::Serial(s.clone())),
            (Some(_), Some(_)) => Err(ConfigError::TwoTokenSelectors),
            (None, None) => Err(ConfigError::NoToken),
        }
    }

    /// The PIN source: the configured one, else `DFNS_HSM_PIN` when set, else a prompt.
    pub fn pin_source(&self) -> Result<PinSource, ConfigError> {
        match &self.pin_source {
            Some(s) => Ok(s.parse()?),
            None if std::env::var_os(DEFAULT_PIN_ENV).is_some() => {
                Ok(PinSource::Env(DEFAULT_PIN_ENV.to_owned()))
            }
            None => Ok(PinSource::Prompt),
        }
    }

    /// Session-pool and key-template options.
    pub fn token_options(&self) -> TokenOptions {
        let d = TokenOptions::default();
        TokenOptions {
            max_sessions: self.max_sessions.unwrap_or(d.max_sessions),
            public_key_private: self.public_key_private.unwrap_or(d.public_key_private),
            recovery_budget: self
                .recovery_budget_secs
                .map(std::time::Duration::from_secs)
                .unwrap_or(d.recovery_budget),
            key_id_bytes: self.key_id_bytes.unwrap_or(d.key_id_bytes).clamp(1, 64),
        }
    }
}

/// Whether two module paths name the same file once every symlink is resolved (the paths
/// as given when either cannot be resolved).
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigFile;

    #[test]
    fn flags_win_over_the_profile() {
        let file: ConfigFile =
            toml::from_str("[hsm]\nmodule = \"/a.so\"\nserial = \"123\"\nmax_sessions = 4\n")
                .unwrap();
        let s = HsmSettings {
            module: Some("/b.so".into()),
            token: Some("t".into()),
            ..Default::default()
        }
        .or(file.hsm);
        assert_eq!(s.module.as_deref(), Some(Path::new("/b.so")));
        assert_eq!(s.selector().unwrap(), TokenSelector::Label("t".into()));
        assert_eq!(s.token_options().max_sessions, 4);
    }

    #[test]
    fn a_uri_cannot_choose_the_module() {
        let uri: Pkcs11Uri = "pkcs11:token=t;object=k?module-path=/other.so"
            .parse()
            .unwrap();
        let configured = HsmSettings {
            module: Some("/configured.so".into()),
            ..Default::default()
        };
        let e = configured.clone().with_uri(&uri).unwrap_err().to_string();
        assert!(
            e.contains("/other.so") && e.contains("/configured.so") && e.contains("module-path"),
            "{e}"
        );
        let e = HsmSettings::default()
            .with_uri(&uri)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/other.so") && e.contains("no PKCS#11 module"),
            "{e}"
        );

        // The configured module named again, through a symlink, is fine.
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.so");
        std::fs::write(&real, b"x").unwrap();
        let link = dir.path().join("link.so");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let uri: Pkcs11Uri = format!("pkcs11:token=t;object=k?module-path={}", link.display())
            .parse()
            .unwrap();
        let s = HsmSettings {
            module: Some(real.clone()),
            ..Default::default()
        }
        .with_uri(&uri)
        .unwrap();
        assert_eq!(s.module.as_deref(), Some(real.as_path()));
        assert_eq!(s.selector().unwrap(), TokenSelector::Label("t".into()));
    }

    #[test]
    fn a_serial_above_hides_a_label_below() {
        let s = HsmSettings {
            serial: Some("99".into()),
            ..Default::default()
        }
        .or(HsmSettings {
            token: Some("profile-label".into()),
            ..Default::default()
        });
        assert_eq!(s.selector().unwrap(), TokenSelector::Serial("99".into()));
    }
}
