//! The one-time `userAction` token a completed user action yields, kept secret.

use std::fmt;

use secrecy::{ExposeSecret as _, SecretString};

/// A one-time `userAction` token from `POST /auth/action`; `Debug` prints a redaction.
#[derive(Clone)]
pub struct UserActionToken(SecretString);

impl UserActionToken {
    /// Wrap a token received out of band (delegated flows); it must be a valid header value.
    pub fn new(token: &str) -> Result<Self, String> {
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("a userAction token must be non-empty printable ASCII".to_owned());
        }
        Ok(Self(SecretString::from(token)))
    }

    /// The token, for the `X-DFNS-USERACTION` header.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for UserActionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UserActionToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_redacted_and_checked() {
        let t = UserActionToken::new("ua-secret").expect("token");
        assert_eq!(format!("{t:?}"), "UserActionToken(<redacted>)");
        assert!(UserActionToken::new("").is_err());
        assert!(UserActionToken::new("a b").is_err());
    }
}
