//! Reading settings from environment variables. An empty variable counts as unset, as it
//! does for clap's `env` and for most shells' `VAR= cmd`.

use std::path::PathBuf;
use std::str::FromStr;

use super::error::ConfigError;

/// The variable's value, unless unset or empty.
pub(super) fn string(var: &'static str) -> Result<Option<String>, ConfigError> {
    match std::env::var(var) {
        Ok(v) if v.is_empty() => Ok(None),
        Ok(v) => Ok(Some(v)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(ConfigError::Env {
            var,
            reason: "it is not valid UTF-8".into(),
        }),
    }
}

/// A path from the environment (any bytes the OS allows).
pub(super) fn path(var: &'static str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// A number (or anything `FromStr`) from the environment.
pub(super) fn parse<T: FromStr>(var: &'static str) -> Result<Option<T>, ConfigError>
where
    T::Err: std::fmt::Display,
{
    string(var)?
        .map(|v| {
            v.trim().parse().map_err(|e: T::Err| ConfigError::Env {
                var,
                reason: e.to_string(),
            })
        })
        .transpose()
}
