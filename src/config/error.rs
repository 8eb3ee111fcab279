//! What can be wrong with the settings. Every variant is a usage error: nothing was tried.

use std::path::PathBuf;

use crate::api::ApiUrlError;
use crate::hsm::Error as HsmError;

/// A setting that is missing, malformed or contradictory.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The profile could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The profile's path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The profile is not valid TOML for this version, or has an unknown key.
    #[error("config file {}: {message}", path.display())]
    Parse {
        /// The profile's path.
        path: PathBuf,
        /// The parser's message, naming the key.
        message: String,
    },
    /// An environment variable holds a value that cannot be used.
    #[error("environment variable {var}: {reason}")]
    Env {
        /// The variable.
        var: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A value is outside what the setting allows.
    #[error("{setting} must be {allowed}, not {value}")]
    OutOfRange {
        /// The setting, as the profile names it.
        setting: &'static str,
        /// The value given.
        value: u64,
        /// The allowed range, in words.
        allowed: &'static str,
    },
    /// No PKCS#11 module is configured.
    #[error("no PKCS#11 module given")]
    NoModule,
    /// A `pkcs11:` URI names a module other than the configured one, or names one when none
    /// is configured: only the operator's module is ever loaded.
    #[error("{}", uri_module_path(named, configured.as_deref()))]
    UriModulePath {
        /// The URI's `module-path`.
        named: PathBuf,
        /// The configured module, if any.
        configured: Option<PathBuf>,
    },
    /// No token is selected.
    #[error("no token given (a token is chosen by label or serial, never by slot index)")]
    NoToken,
    /// Both a token label and a serial are given at the same layer.
    #[error("both a token label and a serial are given; give exactly one")]
    TwoTokenSelectors,
    /// A key reference is empty.
    #[error("empty key reference; give a pkcs11: URI, a key label or file:PATH")]
    EmptyKeyRef,
    /// A signing key without a credential id, or the reverse.
    #[error(
        "a signing identity needs both a key and its credential id; only the {given} is given"
    )]
    HalfIdentity {
        /// `key` or `credential id`.
        given: &'static str,
    },
    /// A `pkcs11:` URI or PIN source that does not parse.
    #[error(transparent)]
    Hsm(#[from] HsmError),
    /// The API base URL cannot be used.
    #[error(transparent)]
    ApiUrl(#[from] ApiUrlError),
}

fn uri_module_path(named: &std::path::Path, configured: Option<&std::path::Path>) -> String {
    match configured {
        Some(c) => format!(
            "the pkcs11: URI names module-path={}, but the configured PKCS#11 module is {}; \
             a URI cannot choose which library is loaded",
            named.display(),
            c.display()
        ),
        None => format!(
            "the pkcs11: URI names module-path={}, but no PKCS#11 module is configured; \
             a URI cannot choose which library is loaded",
            named.display()
        ),
    }
}
