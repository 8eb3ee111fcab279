//! Settings: command-line flags, then environment variables (both through clap), then the TOML
//! profile (`--config`), then defaults. One precedence rule for every setting.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::hsm::{
    Error as HsmError, PinSource, Pkcs11Uri, TokenOptions, TokenSelector, DEFAULT_PIN_ENV,
};

/// A TOML profile (see `hsm-config/`). Unknown keys are errors: a typo must not silently
/// fall back to a default.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The `[hsm]` table.
    #[serde(default)]
    pub hsm: HsmSettings,
    /// The `[dfns]` table.
    #[serde(default)]
    pub dfns: DfnsSection,
}

/// `[hsm]`: which module and token, and how to log in. The same struct holds the merged
/// settings (flags and env first, then the profile: [`HsmSettings::with_file`]).
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

/// `[dfns]`: the Dfns identity.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DfnsSection {
    /// API base URL.
    pub api_url: Option<String>,
    /// File holding the bearer token (mode 0600).
    pub auth_token_file: Option<PathBuf>,
    /// Credential id of the signing key.
    pub cred_id: Option<String>,
    /// Key reference of the signing key.
    pub signing_key: Option<String>,
}

impl ConfigFile {
    /// Read and parse a profile.
    pub fn load(path: &Path) -> Result<Self, HsmError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            HsmError::Config(format!("cannot read config file {}: {e}", path.display()))
        })?;
        toml::from_str(&text)
            .map_err(|e| HsmError::Config(format!("config file {}: {e}", path.display())))
    }
}

impl HsmSettings {
    /// Fill settings not given on the command line / env from the profile.
    pub fn with_file(mut self, file: &HsmSettings) -> Self {
        fn fill<T: Clone>(slot: &mut Option<T>, from: &Option<T>) {
            if slot.is_none() {
                slot.clone_from(from);
            }
        }
        // A token selector given on the command line replaces the profile's, whichever kind.
        if self.token.is_none() && self.serial.is_none() {
            fill(&mut self.token, &file.token);
            fill(&mut self.serial, &file.serial);
        }
        fill(&mut self.module, &file.module);
        fill(&mut self.pin_source, &file.pin_source);
        fill(&mut self.init_args, &file.init_args);
        fill(&mut self.max_sessions, &file.max_sessions);
        fill(&mut self.public_key_private, &file.public_key_private);
        fill(&mut self.recovery_budget_secs, &file.recovery_budget_secs);
        fill(&mut self.key_id_bytes, &file.key_id_bytes);
        self
    }

    /// Apply what a `pkcs11:` URI says (it is the most specific reference, so it wins).
    pub fn with_uri(mut self, uri: &Pkcs11Uri) -> Result<Self, HsmError> {
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
        if let Some(m) = &uri.module_path {
            self.module = Some(m.clone());
        }
        if let Some(p) = &uri.pin_source {
            self.pin_source = Some(p.clone());
        }
        Ok(self)
    }

    /// The module path, or an error saying how to give one.
    pub fn module_path(&self) -> Result<&Path, HsmError> {
        self.module.as_deref().ok_or_else(|| {
            HsmError::Config(
                "no PKCS#11 module given: use --module PATH, DFNS_HSM_MODULE, [hsm] module in --config, or module-path in a pkcs11: URI".into(),
            )
        })
    }

    /// Exactly one token selector.
    pub fn selector(&self) -> Result<TokenSelector, HsmError> {
        match (&self.token, &self.serial) {
            (Some(l), None) => Ok(TokenSelector::Label(l.clone())),
            (None, Some(s)) => Ok(TokenSelector::Serial(s.clone())),
            (Some(_), Some(_)) => Err(HsmError::Config(
                "both a token label and a serial are given; give exactly one".into(),
            )),
            (None, None) => Err(HsmError::Config(
                "no token given: use --token LABEL, DFNS_HSM_TOKEN, [hsm] token/serial in --config, or token=/serial= in a pkcs11: URI (never a slot index)".into(),
            )),
        }
    }

    /// The PIN source: the configured one, else `DFNS_HSM_PIN` when set, else a prompt.
    pub fn pin_source(&self) -> Result<PinSource, HsmError> {
        match &self.pin_source {
            Some(s) => s.parse(),
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

/// What a `--key` / `--signing-key` value refers to.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyRef {
    /// A `pkcs11:` URI.
    Uri(Pkcs11Uri),
    /// A bare label on the configured token.
    Label(String),
    /// A PKCS#8 PEM software key (bootstrap and comparison only).
    File(PathBuf),
}

impl std::str::FromStr for KeyRef {
    type Err = HsmError;

    fn from_str(s: &str) -> Result<Self, HsmError> {
        if s.starts_with("pkcs11:") {
            Ok(KeyRef::Uri(s.parse()?))
        } else if let Some(p) = s.strip_prefix("file:") {
            Ok(KeyRef::File(PathBuf::from(p)))
        } else if s.is_empty() {
            Err(HsmError::Config(
                "empty key reference; give a pkcs11: URI, a key label or file:PATH".into(),
            ))
        } else {
            Ok(KeyRef::Label(s.to_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_rejected() {
        let e = toml::from_str::<ConfigFile>("[hsm]\nmodul = \"/x\"\n").unwrap_err();
        assert!(e.to_string().contains("modul"), "{e}");
    }

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
        .with_file(&file.hsm);
        assert_eq!(s.module.as_deref(), Some(Path::new("/b.so")));
        assert_eq!(s.selector().unwrap(), TokenSelector::Label("t".into()));
        assert_eq!(s.token_options().max_sessions, 4);
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

    #[test]
    fn key_refs() {
        assert_eq!(
            "file:/k.pem".parse::<KeyRef>().unwrap(),
            KeyRef::File("/k.pem".into())
        );
        assert_eq!(
            "ops".parse::<KeyRef>().unwrap(),
            KeyRef::Label("ops".into())
        );
        assert!(matches!(
            "pkcs11:object=ops".parse::<KeyRef>().unwrap(),
            KeyRef::Uri(_)
        ));
    }
}
