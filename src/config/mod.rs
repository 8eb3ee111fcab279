//! Settings: command-line flags, then environment variables, then the TOML profile
//! (`--config`), then defaults.
//!
//! The rule is implemented once per profile section ([`Section::or`]): a value set at a higher
//! layer hides the same value below it. Each section reads its own environment variables
//! ([`Section::from_env`]), so the CLI hands in only what its flags said.

mod dfns;
mod env;
mod error;
mod hsm;
mod key_ref;
mod retry;
mod serve;

use std::path::Path;

use serde::Deserialize;

pub use dfns::DfnsSettings;
pub use error::ConfigError;
pub use hsm::HsmSettings;
pub use key_ref::KeyRef;
pub use retry::RetrySettings;
pub use serve::{
    ClientSettings, IdentitySettings, ListenSettings, ServeSettings, DEFAULT_HEADER_TIMEOUT_MS,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_SHUTDOWN_GRACE_SECS,
};

/// A TOML profile (see `hsm-config/`). Unknown keys are errors: a typo must not silently
/// fall back to a default.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The `[hsm]` table: module, token, login, session pool, key template.
    #[serde(default)]
    pub hsm: HsmSettings,
    /// The `[dfns]` table: API, the calling identity, the audit log.
    #[serde(default)]
    pub dfns: DfnsSettings,
    /// The `[retry]` table: attempts, deadline and timeout of API calls.
    #[serde(default)]
    pub retry: RetrySettings,
    /// `dfns-hsm serve`'s `[serve]` table: its limits.
    #[serde(default)]
    pub serve: ServeSettings,
    /// `dfns-hsm serve`'s `[[listen]]` entries: where it listens.
    #[serde(default)]
    pub listen: Vec<ListenSettings>,
    /// `dfns-hsm serve`'s `[[identity]]` entries: the credentials it signs for.
    #[serde(default)]
    pub identity: Vec<IdentitySettings>,
    /// `dfns-hsm serve`'s `[[client]]` entries: who may use which identity and route.
    #[serde(default)]
    pub client: Vec<ClientSettings>,
}

impl ConfigFile {
    /// Read and parse a profile.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }
}

/// One table of settings, as each layer (flags, environment, profile) gives it.
pub trait Section: Sized + Clone {
    /// Keep every value that is set, and take the unset ones from `lower`, a layer of lower
    /// precedence.
    fn or(self, lower: Self) -> Self;

    /// The section as the environment variables give it.
    fn from_env() -> Result<Self, ConfigError>;

    /// Flags (already layered among themselves), then the environment, then `profile`.
    fn resolve(self, profile: &Self) -> Result<Self, ConfigError> {
        Ok(self.or(Self::from_env()?).or(profile.clone()))
    }
}

/// Fill `slot` from `lower` when it is unset.
fn fill<T>(slot: &mut Option<T>, lower: Option<T>) {
    if slot.is_none() {
        *slot = lower;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_rejected() {
        let e = toml::from_str::<ConfigFile>("[hsm]\nmodul = \"/x\"\n").unwrap_err();
        assert!(e.to_string().contains("modul"), "{e}");
        let e = toml::from_str::<ConfigFile>("[retry]\nattempts = 3\n").unwrap_err();
        assert!(e.to_string().contains("attempts"), "{e}");
    }

    #[test]
    fn every_shipped_profile_parses() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("hsm-config");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) == Some("toml") {
                let file = ConfigFile::load(&path).unwrap_or_else(|e| panic!("{e}"));
                assert!(
                    file.hsm.module.is_some(),
                    "{} names no module",
                    path.display()
                );
                assert!(
                    file.hsm.pin_source.is_some(),
                    "{} has no pin_source",
                    path.display()
                );
                seen += 1;
            }
        }
        assert!(seen >= 6, "expected a profile per vendor, found {seen}");
    }
}
