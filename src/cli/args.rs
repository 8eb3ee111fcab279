//! The option groups, each flattened only into the commands that use it and shown under its
//! own help heading. Every group can also be given before the command
//! (`dfns-hsm --pin-source env:PIN key list`); the command's own copy wins.
//!
//! These are flags only: environment variables and the profile are layered under them by
//! [`crate::config::Section`], so each variable named here is read in one place.

use std::path::PathBuf;

use clap::Args;

use crate::config::{DfnsSettings, HsmSettings, RetrySettings, Section};

/// Which PKCS#11 module and token, and where the PIN comes from.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "HSM (PKCS#11) options")]
pub struct HsmArgs {
    /// PKCS#11 library (.so) [env: DFNS_HSM_MODULE]
    #[arg(long, value_name = "PATH")]
    pub module: Option<PathBuf>,
    /// Label of the PKCS#11 token (the HSM partition; not a Dfns token), never a slot index
    /// [env: DFNS_HSM_TOKEN]
    #[arg(long = "token", value_name = "LABEL")]
    pub token_label: Option<String>,
    /// Serial of the PKCS#11 token, instead of --token [env: DFNS_HSM_TOKEN_SERIAL]
    #[arg(long, value_name = "SERIAL")]
    pub token_serial: Option<String>,
    /// Where the HSM user PIN comes from: env:VAR, file:PATH or prompt; DFNS_HSM_PIN is read
    /// when none is given [env: DFNS_HSM_PIN_SOURCE]
    #[arg(long, value_name = "SRC")]
    pub pin_source: Option<String>,
}

impl HsmArgs {
    /// What these flags set, over what `lower` (flags given before the command) set.
    pub fn over(&self, lower: &HsmArgs) -> HsmSettings {
        self.settings().or(lower.settings())
    }

    fn settings(&self) -> HsmSettings {
        HsmSettings {
            module: self.module.clone(),
            token: self.token_label.clone(),
            serial: self.token_serial.clone(),
            pin_source: self.pin_source.clone(),
            ..HsmSettings::default()
        }
    }
}

/// Where the Dfns API is and the file holding the caller's Dfns auth token.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Dfns API options")]
pub struct ApiArgs {
    /// Dfns API base URL (https; plain http only for loopback) [env: DFNS_API_URL]
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,
    /// File holding the caller's Dfns auth (bearer) token, mode 0600; DFNS_AUTH_TOKEN is read
    /// when no file is given [env: DFNS_AUTH_TOKEN_FILE]
    #[arg(long, value_name = "FILE")]
    pub auth_token_file: Option<PathBuf>,
}

/// The key that signs user actions as the caller, and the audit log of those signatures.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Signing identity options")]
pub struct SigningArgs {
    /// Signing key: pkcs11: URI, key label on the token, or file:PATH (PKCS#8 PEM)
    /// [env: DFNS_SIGNING_KEY]
    #[arg(long, value_name = "REF")]
    pub signing_key: Option<String>,
    /// Credential id the signing key is registered under at Dfns [env: DFNS_CRED_ID]
    #[arg(long, value_name = "ID")]
    pub cred_id: Option<String>,
    /// Append one JSON line per user-action signature to FILE (created 0600)
    /// [env: DFNS_HSM_AUDIT_LOG]
    #[arg(long, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
    /// Use an HSM key as a Dfns credential (the signing key, or the key `enroll` and
    /// `create --key` register) although it is extractable, was ever extractable or not
    /// sensitive, or can decrypt, unwrap or derive (refused without this flag)
    #[arg(long)]
    pub allow_unsafe_key: bool,
}

/// How API calls are retried.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Retry options")]
pub struct RetryArgs {
    /// Attempts per API call, the first included (1 = no retries; default 6)
    /// [env: DFNS_HSM_MAX_ATTEMPTS]
    #[arg(long, value_name = "N")]
    pub max_attempts: Option<u32>,
    /// Start no new attempt of an API call after this many seconds (default 60)
    /// [env: DFNS_HSM_RETRY_DEADLINE]
    #[arg(long, value_name = "SECS")]
    pub retry_deadline: Option<u64>,
    /// Limit for one HTTP request, response included, in seconds (default 30)
    /// [env: DFNS_HSM_TIMEOUT]
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
}

impl RetryArgs {
    /// What these flags set, over what `lower` set.
    pub fn over(&self, lower: &RetryArgs) -> RetrySettings {
        RetrySettings {
            max_attempts: self.max_attempts,
            deadline_secs: self.retry_deadline,
            timeout_secs: self.timeout,
        }
        .or(RetrySettings {
            max_attempts: lower.max_attempts,
            deadline_secs: lower.retry_deadline,
            timeout_secs: lower.timeout,
        })
    }
}

/// The API and the signing identity together, as `[dfns]` holds them.
pub fn dfns_settings(api: &ApiArgs, signing: &SigningArgs) -> DfnsSettings {
    DfnsSettings {
        api_url: api.api_url.clone(),
        auth_token_file: api.auth_token_file.clone(),
        cred_id: signing.cred_id.clone(),
        signing_key: signing.signing_key.clone(),
        audit_log: signing.audit_log.clone(),
        expiry_warning_days: None,
    }
}

/// Everything a signed Dfns call needs: where to send it, who signs (possibly on the HSM),
/// how to retry.
#[derive(Debug, Clone, Default, Args)]
pub struct CallArgs {
    /// The signing identity.
    #[command(flatten)]
    pub signing: SigningArgs,
    /// The HSM holding the signing key (or the account's key).
    #[command(flatten)]
    pub hsm: HsmArgs,
    /// The API.
    #[command(flatten)]
    pub api: ApiArgs,
    /// Retries.
    #[command(flatten)]
    pub retry: RetryArgs,
}

/// What an unsigned read needs.
#[derive(Debug, Clone, Default, Args)]
pub struct ReadArgs {
    /// The API.
    #[command(flatten)]
    pub api: ApiArgs,
    /// Retries.
    #[command(flatten)]
    pub retry: RetryArgs,
}
