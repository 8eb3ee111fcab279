//! The Dfns bearer token: a secret read from a file or the environment.
//!
//! The token is held in a zeroizing secret; `Debug` prints a redaction and there is no
//! `Display`. A token file that group or others can access is refused, as ssh refuses a private
//! key file with loose permissions.

use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret as _, SecretString};
use zeroize::Zeroizing;

use super::jwt::TokenClaims;

/// Environment variable naming a file that holds the token.
pub const ENV_AUTH_TOKEN_FILE: &str = "DFNS_AUTH_TOKEN_FILE";
/// Environment variable holding the token itself.
pub const ENV_AUTH_TOKEN: &str = "DFNS_AUTH_TOKEN";

/// Token files larger than this are refused (Dfns tokens are about 1 KiB).
const MAX_TOKEN_FILE_BYTES: u64 = 64 * 1024;

/// A Dfns bearer token (a JWT: service-account token, PAT or login token).
#[derive(Clone)]
pub struct AuthToken {
    secret: SecretString,
}

/// Why a token could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum AuthTokenError {
    /// No token source was given (no file, and the environment variable is not set).
    #[error("no Dfns auth token")]
    Missing,
    /// The token file is accessible by group or others.
    #[error(
        "token file {} is accessible by group or others (mode {mode:04o}); it holds a secret: \
         run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    InsecureFile {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The token file could not be read.
    #[error("cannot read token file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The token is not usable as a bearer token.
    #[error("the Dfns auth token from {origin} {reason}")]
    Invalid {
        /// Where it came from (`file PATH` or `env VAR`).
        origin: String,
        /// What is wrong; never contains the token.
        reason: String,
    },
}

impl AuthToken {
    /// Wrap a token value; surrounding whitespace (a trailing newline) is trimmed.
    pub fn new(value: impl Into<String>) -> Result<Self, AuthTokenError> {
        Self::with_origin(Zeroizing::new(value.into()), "the caller")
    }

    /// Read a token file: it must be readable by its owner only (mode `0600` or stricter).
    pub fn from_file(path: &Path) -> Result<Self, AuthTokenError> {
        let read_err = |source| AuthTokenError::Read {
            path: path.to_owned(),
            source,
        };
        use crate::private_file::{read_secret, Refusal};
        let text = read_secret(path, MAX_TOKEN_FILE_BYTES).map_err(|e| match e {
            Refusal::Io(source) => read_err(source),
            Refusal::Exposed { mode, .. } => AuthTokenError::InsecureFile {
                path: path.to_owned(),
                mode,
            },
            other => AuthTokenError::Invalid {
                origin: format!("file {}", path.display()),
                reason: other.to_string(),
            },
        })?;
        Self::with_origin(text, &format!("file {}", path.display()))
    }

    /// Read the token from an environment variable.
    pub fn from_env(var: &str) -> Result<Self, AuthTokenError> {
        match std::env::var(var) {
            Ok(v) => Self::with_origin(Zeroizing::new(v), &format!("env {var}")),
            Err(std::env::VarError::NotPresent) => Err(AuthTokenError::Missing),
            Err(std::env::VarError::NotUnicode(_)) => Err(AuthTokenError::Invalid {
                origin: format!("env {var}"),
                reason: "is not valid UTF-8".to_owned(),
            }),
        }
    }

    /// The CLI's rule: an explicit file, else `DFNS_AUTH_TOKEN_FILE`, else `DFNS_AUTH_TOKEN`.
    pub fn resolve(file: Option<&Path>) -> Result<Self, AuthTokenError> {
        if let Some(path) = file {
            return Self::from_file(path);
        }
        if let Some(path) = std::env::var_os(ENV_AUTH_TOKEN_FILE).filter(|p| !p.is_empty()) {
            return Self::from_file(Path::new(&path));
        }
        Self::from_env(ENV_AUTH_TOKEN)
    }

    /// The token itself, for the `Authorization` header (and for writing a new token file).
    pub fn expose_secret(&self) -> &str {
        self.secret.expose_secret()
    }

    /// The token's claims, decoded without verification (for diagnostics).
    pub fn claims(&self) -> Result<TokenClaims, String> {
        TokenClaims::decode(self.expose_secret())
    }

    fn with_origin(value: Zeroizing<String>, origin: &str) -> Result<Self, AuthTokenError> {
        let invalid = |reason: &str| AuthTokenError::Invalid {
            origin: origin.to_owned(),
            reason: reason.to_owned(),
        };
        let token = value.trim();
        if token.is_empty() {
            return Err(invalid("is empty"));
        }
        if token.chars().any(|c| c.is_whitespace()) {
            return Err(invalid(
                "contains whitespace; store only the token itself (no `Bearer ` prefix, one line)",
            ));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid(
                "contains characters that cannot appear in an HTTP header",
            ));
        }
        Ok(Self {
            secret: SecretString::from(token),
        })
    }
}

impl fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthToken(<redacted>)")
    }
}

impl PartialEq for AuthToken {
    fn eq(&self, other: &Self) -> bool {
        self.expose_secret() == other.expose_secret()
    }
}

impl Eq for AuthToken {}

impl<'de> serde::Deserialize<'de> for AuthToken {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Zeroizing::new(String::deserialize(d)?);
        Self::with_origin(value, "a response").map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    const TOKEN: &str = "eyJhbGciOiJFZERTQSJ9.eyJleHAiOjF9.c2ln";

    fn token_file(contents: &str, mode: u32) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        f.write_all(contents.as_bytes()).expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(mode))
                .expect("chmod");
        }
        f
    }

    #[test]
    fn reads_a_private_file_and_trims_the_newline() {
        let f = token_file(&format!("{TOKEN}\n"), 0o600);
        let t = AuthToken::from_file(f.path()).expect("token");
        assert_eq!(t.expose_secret(), TOKEN);
        assert_eq!(t.claims().expect("claims").exp, Some(1));
        let f = token_file(&format!("{TOKEN}\r\n"), 0o400);
        assert_eq!(
            AuthToken::from_file(f.path())
                .expect("token")
                .expose_secret(),
            TOKEN
        );
    }

    #[cfg(unix)]
    #[test]
    fn refuses_files_open_to_group_or_others() {
        for mode in [0o640, 0o604, 0o644, 0o660, 0o602] {
            let f = token_file(TOKEN, mode);
            let e = AuthToken::from_file(f.path()).expect_err("insecure");
            let msg = e.to_string();
            assert!(matches!(e, AuthTokenError::InsecureFile { .. }), "{mode:o}");
            assert!(msg.contains("chmod 600"), "{msg}");
            assert!(!msg.contains(TOKEN));
        }
    }

    #[test]
    fn refuses_empty_and_multi_word_tokens_without_echoing_them() {
        let f = token_file("\n", 0o600);
        assert!(AuthToken::from_file(f.path())
            .expect_err("empty")
            .to_string()
            .contains("is empty"));
        let e = AuthToken::new(format!("Bearer {TOKEN}")).expect_err("prefix");
        assert!(e.to_string().contains("Bearer"));
        assert!(!e.to_string().contains(TOKEN));
        assert!(AuthToken::new("a\u{7f}b").is_err());
        assert!(AuthToken::new("tökén").is_err());
    }

    #[test]
    fn missing_file_is_a_read_error() {
        let e = AuthToken::from_file(Path::new("/nonexistent/dfns.token")).expect_err("missing");
        assert!(matches!(e, AuthTokenError::Read { .. }));
    }

    #[test]
    fn debug_is_redacted() {
        let t = AuthToken::new(TOKEN).expect("token");
        let dbg = format!("{t:?}");
        assert_eq!(dbg, "AuthToken(<redacted>)");
        let wrapped = format!("{:?}", Some(t));
        assert!(!wrapped.contains("eyJ"));
    }

    #[test]
    fn deserializes_from_a_json_string() {
        let t: AuthToken = serde_json::from_str(&format!("\"{TOKEN}\"")).expect("token");
        assert_eq!(t.expose_secret(), TOKEN);
    }
}
