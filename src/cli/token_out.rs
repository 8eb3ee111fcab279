//! `--token-out`: a file, or a `pkcs11:` URI naming a private data object on the HSM token
//! (`pkcs11:object=ops-bot-token;type=data`), so that neither the key nor the account's Dfns
//! token ever sits in a file. Checked before anything is created.

use std::path::Path;
use std::sync::Arc;

use super::context::Settings;
use super::error::CliError;
use crate::hsm::{ObjectType, Pkcs11Uri};
use crate::workflow::{TokenFile, TokenObject, TokenStore};

/// A checked destination for a one-time token.
#[derive(Debug)]
pub enum TokenOut {
    /// A 0600 file.
    File(TokenFile),
    /// A private data object on the HSM token.
    Object(TokenObject),
}

impl TokenOut {
    /// Check `value` (a path, or a `pkcs11:` URI) as a destination.
    pub fn prepare(settings: &Settings, value: &Path) -> Result<Self, CliError> {
        let Some(uri) = value.to_str().filter(|s| s.starts_with("pkcs11:")) else {
            return Ok(TokenOut::File(TokenFile::prepare(value)?));
        };
        let (token, label) = open_data_object(settings, uri)?;
        Ok(TokenOut::Object(TokenObject::prepare(token, &label)?))
    }

    /// As the workflows take it.
    pub fn store(&self) -> &dyn TokenStore {
        match self {
            TokenOut::File(f) => f,
            TokenOut::Object(o) => o,
        }
    }
}

/// The logged-in token and the label a `pkcs11:` URI of `type=data` names.
pub(super) fn open_data_object(
    settings: &Settings,
    uri: &str,
) -> Result<(Arc<crate::hsm::Token>, String), CliError> {
    let parsed: Pkcs11Uri = uri.parse()?;
    if parsed.object_type.is_some_and(|t| t != ObjectType::Data) {
        return Err(CliError::Usage(format!(
            "{uri} names a {} object; a Dfns token is kept in a data object (type=data)",
            parsed.object_type.map(|t| t.name()).unwrap_or_default()
        )));
    }
    let label = parsed
        .object
        .clone()
        .filter(|l| !l.is_empty())
        .ok_or_else(|| {
            CliError::Usage(format!(
            "{uri} names no object: add object=LABEL (e.g. pkcs11:object=ops-bot-token;type=data)"
        ))
        })?;
    let hsm = settings.hsm.clone().with_uri(&parsed)?;
    Ok((settings.open_token(&hsm)?, label))
}
