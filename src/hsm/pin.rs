//! Where the user PIN comes from: `env:VAR`, `file:PATH` or an interactive prompt.
//!
//! Never from argv (it would show in `ps`) and never logged. Held as cryptoki's `AuthPin`
//! (a `secrecy::SecretString`, zeroized on drop, redacted in `Debug`).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use super::error::{Error, Result};

/// The env var read when no PIN source is configured.
pub const DEFAULT_PIN_ENV: &str = "DFNS_HSM_PIN";

/// A PIN file larger than this is not a PIN file.
const MAX_PIN_FILE_BYTES: u64 = 4096;

/// A PIN source.
#[derive(Clone, PartialEq, Eq)]
pub enum PinSource {
    /// Read the named environment variable.
    Env(String),
    /// Read a file (trailing newline trimmed); must not be readable by group or others.
    File(PathBuf),
    /// Ask on the terminal.
    Prompt,
}

impl fmt::Debug for PinSource {
    // Names the source, never the PIN.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PinSource({self})")
    }
}

impl fmt::Display for PinSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PinSource::Env(v) => write!(f, "env:{v}"),
            PinSource::File(p) => write!(f, "file:{}", p.display()),
            PinSource::Prompt => f.write_str("prompt"),
        }
    }
}

impl FromStr for PinSource {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        if let Some(v) = s.strip_prefix("env:") {
            if v.is_empty() {
                return Err(Error::PinSource(
                    "`env:` needs a variable name, e.g. env:DFNS_HSM_PIN".into(),
                ));
            }
            Ok(PinSource::Env(v.to_owned()))
        } else if let Some(p) = s.strip_prefix("file:") {
            if p.is_empty() {
                return Err(Error::PinSource(
                    "`file:` needs a path, e.g. file:/etc/dfns-hsm/pin".into(),
                ));
            }
            Ok(PinSource::File(PathBuf::from(p)))
        } else if s == "prompt" {
            Ok(PinSource::Prompt)
        } else {
            // Never echoed: what was given may be the PIN itself.
            Err(Error::PinSource(
                "unknown PIN source (its value is not shown); use env:VAR, file:PATH or prompt (a PIN is never accepted as a value)".into(),
            ))
        }
    }
}

impl PinSource {
    /// Read the PIN. `what` names the token in the prompt and errors.
    pub fn read(&self, what: &str) -> Result<AuthPin> {
        let pin = match self {
            PinSource::Env(var) => Zeroizing::new(std::env::var(var).map_err(|_| {
                Error::PinSource(format!(
                    "environment variable {var} is not set (or not UTF-8)"
                ))
            })?),
            PinSource::File(path) => {
                let mut text = crate::private_file::read_secret(path, MAX_PIN_FILE_BYTES)
                    .map_err(|e| Error::PinSource(format!("PIN file {}: {e}", path.display())))?;
                let trimmed_len = text.trim_end_matches(['\n', '\r']).len();
                text.truncate(trimmed_len);
                text
            }
            PinSource::Prompt => prompt(what)?,
        };
        if pin.is_empty() {
            return Err(Error::PinSource(format!("the PIN from {self} is empty")));
        }
        Ok(AuthPin::from(pin.as_str()))
    }
}

/// Ask the terminal for the PIN, without echo.
#[cfg(feature = "cli")]
fn prompt(what: &str) -> Result<Zeroizing<String>> {
    rpassword::prompt_password(format!("PIN for token {what}: "))
        .map(Zeroizing::new)
        .map_err(|e| Error::PinPrompt(format!("{e} (no terminal)")))
}

/// Without the `cli` feature there is no terminal prompt: a library gets its PIN from the
/// environment or a file.
#[cfg(not(feature = "cli"))]
fn prompt(_what: &str) -> Result<Zeroizing<String>> {
    Err(Error::PinPrompt(
        "this build has no terminal prompt (the `cli` feature is off)".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret as _;
    use std::io::Write as _;

    #[test]
    fn parses_sources() {
        assert_eq!(
            "env:X".parse::<PinSource>().ok(),
            Some(PinSource::Env("X".into()))
        );
        assert_eq!("prompt".parse::<PinSource>().ok(), Some(PinSource::Prompt));
        assert!("1234".parse::<PinSource>().is_err());
        assert!("env:".parse::<PinSource>().is_err());
    }

    #[test]
    fn a_bare_value_is_not_echoed() {
        let e = "supersecretpin123"
            .parse::<PinSource>()
            .unwrap_err()
            .to_string();
        assert!(!e.contains("supersecretpin123"), "{e}");
    }

    #[test]
    fn file_is_trimmed_and_must_be_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pin");
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(b"1234\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let src = PinSource::File(path.clone());
        assert!(src.read("t").unwrap_err().to_string().contains("chmod 600"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(src.read("t").unwrap().expose_secret(), "1234");
    }

    #[test]
    fn debug_names_the_source_only() {
        assert_eq!(
            format!("{:?}", PinSource::Env("P".into())),
            "PinSource(env:P)"
        );
    }
}
