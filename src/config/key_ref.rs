//! What a `--key` / `--signing-key` value refers to.

use std::path::PathBuf;

use super::error::ConfigError;
use crate::hsm::Pkcs11Uri;

/// A key reference: on the HSM (URI or label) or a software key file.
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
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        if s.starts_with("pkcs11:") {
            Ok(KeyRef::Uri(s.parse()?))
        } else if let Some(p) = s.strip_prefix("file:") {
            Ok(KeyRef::File(PathBuf::from(p)))
        } else if s.is_empty() {
            Err(ConfigError::EmptyKeyRef)
        } else {
            Ok(KeyRef::Label(s.to_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(matches!(
            "".parse::<KeyRef>(),
            Err(ConfigError::EmptyKeyRef)
        ));
    }
}
