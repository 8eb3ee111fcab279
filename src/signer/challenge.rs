//! The user-action challenge Dfns returns from `POST /auth/action/init`.
//!
//! Deserialized leniently: Dfns adds fields over time, so anything we do not model is kept in
//! `extra` instead of failing the whole call.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A user-action challenge (`CreateUserActionChallengeResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserActionChallenge {
    /// The opaque challenge string to sign (already base64url; never re-encoded).
    pub challenge: String,
    /// Identifies the signing session; sent back with the assertion.
    pub challenge_identifier: String,
    /// Credentials the server will accept for this challenge.
    #[serde(default)]
    pub allow_credentials: AllowCredentials,
    /// Credential kinds the server supports (`Key`, `Fido2`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supported_credential_kinds: Vec<SupportedCredentialKind>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl UserActionChallenge {
    /// A challenge that allows exactly one Key credential; handy for delegated flows and tests.
    pub fn for_key(challenge: &str, challenge_identifier: &str, cred_id: &str) -> Self {
        Self {
            challenge: challenge.to_owned(),
            challenge_identifier: challenge_identifier.to_owned(),
            allow_credentials: AllowCredentials {
                key: vec![AllowedCredential {
                    kind: "public-key".to_owned(),
                    id: cred_id.to_owned(),
                    extra: Map::new(),
                }],
                ..AllowCredentials::default()
            },
            supported_credential_kinds: Vec::new(),
            extra: Map::new(),
        }
    }

    /// Ids of the Key credentials the server allows.
    pub fn allowed_key_ids(&self) -> impl Iterator<Item = &str> {
        self.allow_credentials.key.iter().map(|c| c.id.as_str())
    }
}

/// `allowCredentials` of a challenge.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AllowCredentials {
    /// Key credentials (what dfns-hsm signs with).
    #[serde(default)]
    pub key: Vec<AllowedCredential>,
    /// WebAuthn credentials (not used by dfns-hsm, kept for completeness).
    #[serde(default)]
    pub webauthn: Vec<AllowedCredential>,
    /// Fields this version does not model (e.g. `passwordProtectedKey`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One allowed credential.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllowedCredential {
    /// Always `public-key` today.
    #[serde(rename = "type")]
    pub kind: String,
    /// The credential id (`credId`).
    pub id: String,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One entry of `supportedCredentialKinds`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SupportedCredentialKind {
    /// `Key`, `Fido2`, `Password`, ...
    pub kind: String,
    /// `first`, `second` or `either`.
    pub factor: String,
    /// Whether a second factor is required with this kind.
    #[serde(default)]
    pub requires_second_factor: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_challenge_with_unknown_fields() {
        let json = r#"{"challenge":"Y2g","challengeIdentifier":"eyJ","allowCredentials":
            {"key":[{"type":"public-key","id":"cred-1","transports":["usb"]}],"webauthn":[],
             "passwordProtectedKey":[]},"supportedCredentialKinds":[{"kind":"Key","factor":"first",
             "requiresSecondFactor":false}],"userVerification":"required","rp":{"id":"x"}}"#;
        let c: UserActionChallenge = serde_json::from_str(json).expect("parse");
        assert_eq!(c.allowed_key_ids().collect::<Vec<_>>(), vec!["cred-1"]);
        assert!(c.extra.contains_key("userVerification"));
        assert!(c
            .allow_credentials
            .extra
            .contains_key("passwordProtectedKey"));
        assert!(c.allow_credentials.key[0].extra.contains_key("transports"));
    }

    #[test]
    fn missing_challenge_is_an_error() {
        assert!(
            serde_json::from_str::<UserActionChallenge>(r#"{"challengeIdentifier":"x"}"#).is_err()
        );
    }
}
