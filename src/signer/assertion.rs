//! The `firstFactor` a signer returns, sent to `POST /auth/action`.

use serde::{Deserialize, Serialize};

/// `firstFactor` of `CreateUserActionSignatureBody`; dfns-hsm only produces the `Key` kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum FirstFactor {
    /// An asymmetric-key assertion.
    Key {
        /// The assertion itself.
        #[serde(rename = "credentialAssertion")]
        credential_assertion: KeyAssertion,
    },
}

impl FirstFactor {
    /// The Key assertion inside.
    pub fn assertion(&self) -> &KeyAssertion {
        match self {
            FirstFactor::Key {
                credential_assertion,
            } => credential_assertion,
        }
    }
}

/// `credentialAssertion` of a Key first factor. No `algorithm`: the key determines it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyAssertion {
    /// The credential id the server knows the key by.
    pub cred_id: String,
    /// base64url (no padding) of the exact clientData bytes that were signed.
    pub client_data: String,
    /// base64url (no padding) of the signature (DER for ECDSA, raw for Ed25519, PKCS#1 for RSA).
    pub signature: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_dfns_expects() {
        let f = FirstFactor::Key {
            credential_assertion: KeyAssertion {
                cred_id: "c".into(),
                client_data: "d".into(),
                signature: "s".into(),
            },
        };
        assert_eq!(
            serde_json::to_string(&f).expect("serialize"),
            r#"{"kind":"Key","credentialAssertion":{"credId":"c","clientData":"d","signature":"s"}}"#
        );
    }
}
