//! A new account's Dfns token kept on the HSM token, as a private data object beside its key.

use std::sync::Arc;

use super::store::TokenStore;
use crate::api::AuthToken;
use crate::hsm::{Error as HsmError, Token};

/// A checked destination on the token: no data object has its label yet.
#[derive(Debug, Clone)]
pub struct TokenObject {
    token: Arc<Token>,
    label: String,
}

impl TokenObject {
    /// Check that no data object is labelled `label` on `token` (a token is never overwritten).
    pub fn prepare(token: Arc<Token>, label: &str) -> Result<Self, HsmError> {
        if token.has_secret(label)? {
            return Err(HsmError::KeyExists {
                label: label.to_owned(),
                token: token.label().to_owned(),
            });
        }
        Ok(Self {
            token,
            label: label.to_owned(),
        })
    }

    /// The `pkcs11:` URI that names the object.
    pub fn uri(&self) -> String {
        let mut uri = crate::hsm::Pkcs11Uri {
            token: Some(self.token.label().to_owned()),
            object: Some(self.label.clone()),
            object_type: Some(crate::hsm::ObjectType::Data),
            ..Default::default()
        }
        .to_string();
        // No module-path: only the configured module is ever loaded.
        if let Some(i) = uri.find('?') {
            uri.truncate(i);
        }
        uri
    }
}

impl TokenStore for TokenObject {
    fn describe(&self) -> String {
        self.uri()
    }

    fn store(&self, token: &AuthToken) -> std::io::Result<()> {
        let write = || {
            self.token
                .store_secret(&self.label, token.expose_secret().as_bytes())
                .map_err(std::io::Error::other)
        };
        // PKCS#11 blocks; on a multi-thread runtime let the other tasks move on meanwhile.
        match tokio::runtime::Handle::try_current() {
            Ok(rt) if rt.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(write)
            }
            _ => write(),
        }
    }
}
