//! Turning flags, environment and the profile into a token, a key, a signer or a client.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::args::{dfns_settings, CallArgs};
use super::error::CliError;
use super::output::OutputFormat;
use crate::api::{ApiUrl, AuthToken, DfnsClient};
use crate::config::{ConfigFile, DfnsSettings, HsmSettings, KeyRef, RetrySettings, Section};
use crate::hsm::{Key, KeySelector, Module, Token};
use crate::signer::{AuditLog, HsmSigner, Signer, SoftwareSigner};

/// Options of every command.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Output format: human text or one JSON document.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,
    /// Log lines on stderr: text, or one JSON object per line.
    #[arg(long, global = true, value_enum, env = "DFNS_HSM_LOG_FORMAT",
          default_value_t = LogFormat::Text, value_name = "FORMAT")]
    pub log_format: LogFormat,
    /// The TOML profile (its `hsm`, `dfns` and `retry` tables; see hsm-config/).
    #[arg(
        long,
        global = true,
        env = "DFNS_HSM_CONFIG",
        value_name = "FILE",
        help = "TOML profile: the [hsm], [dfns] and [retry] tables (see hsm-config/)"
    )]
    pub config: Option<PathBuf>,
}

/// How log lines are written (their level comes from `DFNS_HSM_LOG`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One line of text per event.
    Text,
    /// One JSON object per event.
    Json,
}

/// The profile and the flags given before the command.
#[derive(Debug, Clone)]
pub struct Context {
    output: OutputFormat,
    profile: ConfigFile,
    profile_path: Option<PathBuf>,
    before: CallArgs,
}

impl Context {
    /// Load the profile named by `--config`, if any.
    pub fn new(global: GlobalArgs, before: CallArgs) -> Result<Self, CliError> {
        let profile = match &global.config {
            Some(p) => ConfigFile::load(p)?,
            None => ConfigFile::default(),
        };
        Ok(Self {
            output: global.output,
            profile,
            profile_path: global.config,
            before,
        })
    }

    /// The profile, as loaded.
    pub fn profile(&self) -> &ConfigFile {
        &self.profile
    }

    /// The profile's path, when one was given.
    pub fn profile_path(&self) -> Option<&std::path::Path> {
        self.profile_path.as_deref()
    }

    /// This context with the profile read again from its file (`serve` on SIGHUP).
    pub fn reloaded(&self) -> Result<Self, CliError> {
        let profile = match &self.profile_path {
            Some(p) => ConfigFile::load(p)?,
            None => ConfigFile::default(),
        };
        Ok(Self {
            profile,
            ..self.clone()
        })
    }

    /// Output format.
    pub fn output(&self) -> OutputFormat {
        self.output
    }

    /// A command's settings: its flags, then the flags before the command, then the
    /// environment, then the profile. Groups a command does not take are passed as default.
    pub fn resolve(&self, args: &CallArgs) -> Result<Settings, CliError> {
        let before = &self.before;
        Ok(Settings {
            hsm: args.hsm.over(&before.hsm).resolve(&self.profile.hsm)?,
            dfns: dfns_settings(&args.api, &args.signing)
                .or(dfns_settings(&before.api, &before.signing))
                .resolve(&self.profile.dfns)?,
            retry: args
                .retry
                .over(&before.retry)
                .resolve(&self.profile.retry)?,
            allow_unsafe_key: args.signing.allow_unsafe_key || before.signing.allow_unsafe_key,
        })
    }
}

/// One command's settings, every layer merged.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Module, token, login.
    pub hsm: HsmSettings,
    /// API, identity, audit log.
    pub dfns: DfnsSettings,
    /// Retries and timeout.
    pub retry: RetrySettings,
    /// `--allow-unsafe-key`: an HSM key may act as a Dfns credential although its attributes
    /// make it unsafe (a flag only: never from the environment or a profile).
    pub allow_unsafe_key: bool,
}

impl Settings {
    /// Load the module named by `hsm`.
    pub fn module(&self, hsm: &HsmSettings) -> Result<Arc<Module>, CliError> {
        Ok(Module::load(hsm.module_path()?, hsm.init_args.as_deref())?)
    }

    /// Select the token of `hsm` and log in.
    pub fn open_token(&self, hsm: &HsmSettings) -> Result<Arc<Token>, CliError> {
        let module = self.module(hsm)?;
        let selector = hsm.selector()?;
        let pin = hsm.pin_source()?;
        Ok(Token::open(module, &selector, &pin, hsm.token_options())?)
    }

    /// Where an HSM key reference points: the token settings and the key selector.
    pub fn key_location(&self, key: &KeyRef) -> Result<(HsmSettings, KeySelector), CliError> {
        match key {
            KeyRef::Uri(uri) => {
                let settings = self.hsm.clone().with_uri(uri)?;
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
            KeyRef::Label(l) => Ok((self.hsm.clone(), KeySelector::Label(l.clone()))),
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

    /// The Dfns API base URL.
    pub fn api_url(&self) -> Result<ApiUrl, CliError> {
        Ok(self.dfns.api_url()?)
    }

    /// The bearer token: the configured `auth_token_file` (a file, or a `pkcs11:` URI of a
    /// private data object on the HSM token), else `DFNS_AUTH_TOKEN`.
    pub fn auth_token(&self) -> Result<AuthToken, CliError> {
        let file = self.dfns.auth_token_file.as_deref();
        if let Some(uri) = file
            .and_then(|p| p.to_str())
            .filter(|s| s.starts_with("pkcs11:"))
        {
            let (token, label) = super::token_out::open_data_object(self, uri)?;
            let value = token.read_secret(&label)?;
            let text = std::str::from_utf8(&value).map_err(|_| {
                CliError::Usage(format!(
                    "the data object {uri} does not hold a Dfns token (not UTF-8)"
                ))
            })?;
            return Ok(AuthToken::new(text.trim())?);
        }
        Ok(AuthToken::resolve(file)?)
    }

    /// The configured signing identity (signing key + credential id), if given.
    pub fn identity_signer(&self) -> Result<Option<Arc<dyn Signer>>, CliError> {
        match self.dfns.identity()? {
            Some((key, cred_id)) => Ok(Some(self.signer(&key, &cred_id)?)),
            None => Ok(None),
        }
    }

    /// The audit log, when asked for.
    pub fn audit_log(&self) -> Result<Option<Arc<AuditLog>>, CliError> {
        match &self.dfns.audit_log {
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
        let mut builder = DfnsClient::builder(self.api_url()?, token)
            .maybe_signer(signer)
            .audit(self.audit_log()?)
            .retry_policy(self.retry.policy()?);
        if let Some(timeout) = self.retry.request_timeout()? {
            builder = builder.request_timeout(timeout);
        }
        Ok(builder.build()?)
    }

    /// A signer for `key` registered under `cred_id`: HSM-backed, or software for `file:`.
    /// An unsafe HSM key is refused unless `--allow-unsafe-key` was given: this signer acts
    /// as a Dfns credential.
    pub fn signer(&self, key: &KeyRef, cred_id: &str) -> Result<Arc<dyn Signer>, CliError> {
        match key {
            KeyRef::File(path) => Ok(Arc::new(SoftwareSigner::from_pem_file(path, cred_id)?)),
            _ => {
                let key = self.hsm_key(key)?;
                self.ensure_safe(&key)?;
                Ok(Arc::new(HsmSigner::new(key, cred_id)?))
            }
        }
    }

    /// Refuse an unsafe key unless `--allow-unsafe-key` was given.
    pub fn ensure_safe(&self, key: &Key) -> Result<(), CliError> {
        if self.allow_unsafe_key {
            if let Err(e) = key.ensure_safe() {
                tracing::warn!("{e}; used anyway (--allow-unsafe-key)");
            }
            return Ok(());
        }
        Ok(key.ensure_safe()?)
    }

    /// An HSM key whose public key is proven by a test signature: what may be exported or
    /// registered at Dfns.
    pub fn proven_hsm_key(&self, key: &KeyRef) -> Result<HsmSigner, CliError> {
        let signer = HsmSigner::new(self.hsm_key(key)?, "")?;
        signer.prove_pair()?;
        Ok(signer)
    }

    /// A client that can sign user actions: the configured identity is required.
    pub fn signed_client(&self) -> Result<DfnsClient, CliError> {
        let signer = self.identity_signer()?.ok_or_else(|| {
            CliError::Usage(
                "this call needs a user-action signature: give --signing-key and --cred-id (or DFNS_SIGNING_KEY / DFNS_CRED_ID) of the identity whose token you use".into(),
            )
        })?;
        self.client(Some(signer))
    }
}
