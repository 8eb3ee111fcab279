//! Turning global flags, env and the profile into a token, a key or a signer.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::error::CliError;
use super::output::OutputFormat;
use crate::api::{
    ApiUrl, AuthToken, AuthTokenError, DfnsClient, RetryPolicy, DEFAULT_API_URL, ENV_AUTH_TOKEN,
    ENV_AUTH_TOKEN_FILE,
};
use crate::config::{ConfigFile, HsmSettings, KeyRef};
use crate::hsm::{Key, KeySelector, Module, Token};
use crate::signer::{AuditLog, HsmSigner, Signer, SoftwareSigner};

/// Flags every command accepts (each also from its environment variable).
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Output format: human text or one JSON document.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,
    /// TOML profile: the hsm and dfns tables (see hsm-config/).
    #[arg(long, global = true, env = "DFNS_HSM_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// PKCS#11 library (.so).
    #[arg(long, global = true, env = "DFNS_HSM_MODULE", value_name = "PATH")]
    pub module: Option<PathBuf>,
    /// Token label (never a slot index).
    #[arg(long, global = true, env = "DFNS_HSM_TOKEN", value_name = "LABEL")]
    pub token: Option<String>,
    /// Token serial number (instead of --token).
    #[arg(
        long,
        global = true,
        env = "DFNS_HSM_TOKEN_SERIAL",
        value_name = "SERIAL"
    )]
    pub token_serial: Option<String>,
    /// Where the user PIN comes from: env:VAR, file:PATH or prompt (DFNS_HSM_PIN is read when none is given).
    #[arg(long, global = true, env = "DFNS_HSM_PIN_SOURCE", value_name = "SRC")]
    pub pin_source: Option<String>,
    /// Dfns API base URL (https; plain http only for loopback).
    #[arg(long, global = true, env = "DFNS_API_URL", value_name = "URL")]
    pub api_url: Option<String>,
    /// File holding the Dfns bearer token (mode 0600); DFNS_AUTH_TOKEN is read when not given.
    #[arg(long, global = true, env = "DFNS_AUTH_TOKEN_FILE", value_name = "FILE")]
    pub auth_token_file: Option<PathBuf>,
    /// Credential id of the signing key at Dfns.
    #[arg(long, global = true, env = "DFNS_CRED_ID", value_name = "ID")]
    pub cred_id: Option<String>,
    /// Signing key: pkcs11: URI, key label on the token, or file:PATH (PKCS#8 PEM).
    #[arg(long, global = true, env = "DFNS_SIGNING_KEY", value_name = "REF")]
    pub signing_key: Option<String>,
    /// Append one JSON line per user-action signature to FILE (created 0600).
    #[arg(long, global = true, env = "DFNS_HSM_AUDIT_LOG", value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
    /// Attempts per API call, the first included (1 = no retries; default 6).
    #[arg(long, global = true, env = "DFNS_HSM_MAX_ATTEMPTS", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_attempts: Option<u32>,
    /// Start no new attempt of an API call after this many seconds (default 60).
    #[arg(
        long,
        global = true,
        env = "DFNS_HSM_RETRY_DEADLINE",
        value_name = "SECS"
    )]
    pub retry_deadline: Option<u64>,
    /// Limit for one HTTP request, response included, in seconds (default 30).
    #[arg(long, global = true, env = "DFNS_HSM_TIMEOUT", value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: Option<u64>,
}

/// Everything a command needs to find its HSM and identity.
#[derive(Debug, Clone)]
pub struct Context {
    /// The global flags.
    pub global: GlobalArgs,
    /// The profile (empty when none).
    pub file: ConfigFile,
}

impl Context {
    /// Load the profile named by `--config`, if any.
    pub fn new(global: GlobalArgs) -> Result<Self, CliError> {
        let file = match &global.config {
            Some(p) => ConfigFile::load(p)?,
            None => ConfigFile::default(),
        };
        Ok(Self { global, file })
    }

    /// Output format.
    pub fn output(&self) -> OutputFormat {
        self.global.output
    }

    /// HSM settings: flags/env, then the profile.
    pub fn hsm_settings(&self) -> HsmSettings {
        HsmSettings {
            module: self.global.module.clone(),
            token: self.global.token.clone(),
            serial: self.global.token_serial.clone(),
            pin_source: self.global.pin_source.clone(),
            ..HsmSettings::default()
        }
        .with_file(&self.file.hsm)
    }

    /// Load the module named by the settings.
    pub fn module(&self, settings: &HsmSettings) -> Result<Arc<Module>, CliError> {
        Ok(Module::load(
            settings.module_path()?,
            settings.init_args.as_deref(),
        )?)
    }

    /// Select the token and log in.
    pub fn open_token(&self, settings: &HsmSettings) -> Result<Arc<Token>, CliError> {
        let module = self.module(settings)?;
        let selector = settings.selector()?;
        let pin = settings.pin_source()?;
        Ok(Token::open(
            module,
            &selector,
            &pin,
            settings.token_options(),
        )?)
    }

    /// Where an HSM key reference points: the token settings and the key selector.
    pub fn key_location(&self, key: &KeyRef) -> Result<(HsmSettings, KeySelector), CliError> {
        match key {
            KeyRef::Uri(uri) => {
                let settings = self.hsm_settings().with_uri(uri)?;
                let selector = match (&uri.object, &uri.id) {
                    (Some(l), Some(id)) => KeySelector::LabelAndId(l.clone(), id.clone()),
                    (Some(l), None) => KeySelector::Label(l.clone()),
                    (None, Some(id)) => KeySelector::Id(id.clone()),
                    (None, None) => {
                        return Err(CliError::Usage(format!(
                            "the URI {uri} names no key: add object=LABEL or id=%xx"
                        )))
                    }
                };
                Ok((settings, selector))
            }
            KeyRef::Label(l) => Ok((self.hsm_settings(), KeySelector::Label(l.clone()))),
            KeyRef::File(p) => Err(CliError::Usage(format!(
                "file:{} is a software key; this command needs a key on the HSM (pkcs11: URI or label)",
                p.display()
            ))),
        }
    }

    /// Resolve an HSM key reference (URI or label) to a key on a logged-in token.
    pub fn hsm_key(&self, key: &KeyRef) -> Result<Arc<Key>, CliError> {
        let (settings, selector) = self.key_location(key)?;
        let token = self.open_token(&settings)?;
        Ok(Arc::new(Key::find(&token, selector)?))
    }

    /// The Dfns API base URL: flag/env, then the profile, then the default.
    pub fn api_url(&self) -> Result<ApiUrl, CliError> {
        let url = self
            .global
            .api_url
            .clone()
            .or_else(|| self.file.dfns.api_url.clone())
            .unwrap_or_else(|| DEFAULT_API_URL.to_owned());
        ApiUrl::parse(&url).map_err(|e| CliError::Usage(e.to_string()))
    }

    /// The bearer token: `--auth-token-file`/`DFNS_AUTH_TOKEN_FILE`, the profile's
    /// `auth_token_file`, else `DFNS_AUTH_TOKEN`.
    pub fn auth_token(&self) -> Result<AuthToken, CliError> {
        let file = self
            .global
            .auth_token_file
            .clone()
            .or_else(|| self.file.dfns.auth_token_file.clone());
        AuthToken::resolve(file.as_deref()).map_err(|e| match e {
            // The library says what is missing; the CLI says where to put it.
            AuthTokenError::Missing => CliError::Usage(format!(
                "{e}: pass --auth-token-file FILE, or set {ENV_AUTH_TOKEN_FILE} (a file) or \
                 {ENV_AUTH_TOKEN} (the token)"
            )),
            e => CliError::Usage(e.to_string()),
        })
    }

    /// The configured signing identity (`--signing-key` + `--cred-id`), if complete.
    pub fn identity_signer(&self) -> Result<Option<Arc<dyn Signer>>, CliError> {
        let key = self
            .global
            .signing_key
            .clone()
            .or_else(|| self.file.dfns.signing_key.clone());
        let cred = self
            .global
            .cred_id
            .clone()
            .or_else(|| self.file.dfns.cred_id.clone());
        match (key, cred) {
            (Some(k), Some(c)) => Ok(Some(self.signer(&k.parse()?, &c)?)),
            (None, None) => Ok(None),
            (Some(_), None) => Err(CliError::Usage(
                "--signing-key is set but --cred-id (DFNS_CRED_ID) is not: give the credential id Dfns knows the key by".into(),
            )),
            (None, Some(_)) => Err(CliError::Usage(
                "--cred-id is set but --signing-key (DFNS_SIGNING_KEY) is not: give the key (pkcs11: URI, label or file:PATH)".into(),
            )),
        }
    }

    /// The audit log, when asked for.
    pub fn audit_log(&self) -> Result<Option<Arc<AuditLog>>, CliError> {
        match &self.global.audit_log {
            Some(p) => AuditLog::open(p).map(|l| Some(Arc::new(l))).map_err(|e| {
                CliError::Usage(format!("cannot open the audit log {}: {e}", p.display()))
            }),
            None => Ok(None),
        }
    }

    /// An API client for the configured identity. `signer` is needed only for mutations;
    /// reads don't open the HSM.
    pub fn client(&self, signer: Option<Arc<dyn Signer>>) -> Result<DfnsClient, CliError> {
        self.client_with_token(self.auth_token()?, signer)
    }

    /// An API client for another identity's token (e.g. a service account just enrolled).
    pub fn client_with_token(
        &self,
        token: AuthToken,
        signer: Option<Arc<dyn Signer>>,
    ) -> Result<DfnsClient, CliError> {
        let mut policy = RetryPolicy::default();
        if let Some(n) = self.global.max_attempts {
            policy.max_attempts = n;
        }
        if let Some(secs) = self.global.retry_deadline {
            policy.deadline = Some(Duration::from_secs(secs));
        }
        let mut builder = DfnsClient::builder(self.api_url()?, token)
            .maybe_signer(signer)
            .audit(self.audit_log()?)
            .retry_policy(policy);
        if let Some(secs) = self.global.timeout {
            builder = builder.request_timeout(Duration::from_secs(secs));
        }
        Ok(builder.build()?)
    }

    /// A signer for `key` registered under `cred_id`: HSM-backed, or software for `file:`.
    pub fn signer(&self, key: &KeyRef, cred_id: &str) -> Result<Arc<dyn Signer>, CliError> {
        match key {
            KeyRef::File(path) => Ok(Arc::new(SoftwareSigner::from_pem_file(path, cred_id)?)),
            _ => Ok(Arc::new(HsmSigner::new(self.hsm_key(key)?, cred_id)?)),
        }
    }
}
