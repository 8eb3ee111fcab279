//! Compact HS256 JSON Web Tokens: bearer tokens, challenge identifiers, user-action tokens.
//!
//! Only `{"alg":"HS256","typ":"JWT"}` is minted or accepted; the MAC is checked in constant
//! time before the claims are even parsed, and `exp` is checked by the caller's `verify`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The HS256 key the emulator signs all its tokens with (persisted in the state dir).
#[derive(Clone)]
pub struct TokenKey(Vec<u8>);

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(<redacted>)")
    }
}

/// Why a token was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// Not three base64url parts, wrong header, bad MAC or unparseable claims.
    Invalid(&'static str),
    /// The `exp` claim is in the past.
    Expired,
}

/// Claims every emulator token carries, whatever else it holds.
pub trait Expiring {
    /// Expiry, Unix seconds.
    fn exp(&self) -> u64;
}

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

impl TokenKey {
    /// Wrap raw key bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The raw key bytes (for persisting).
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    fn mac(&self) -> Result<HmacSha256, TokenError> {
        HmacSha256::new_from_slice(&self.0).map_err(|_| TokenError::Invalid("unusable token key"))
    }

    /// Serialize `claims` and sign them.
    pub fn mint<C: Serialize>(&self, claims: &C) -> Result<String, TokenError> {
        let payload =
            serde_json::to_vec(claims).map_err(|_| TokenError::Invalid("unserializable claims"))?;
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(HEADER),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let mut mac = self.mac()?;
        mac.update(signing_input.as_bytes());
        let tag = mac.finalize().into_bytes();
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(tag)))
    }

    /// Check the MAC, parse the claims and check `exp` against `now` (Unix seconds).
    pub fn verify<C: DeserializeOwned + Expiring>(
        &self,
        token: &str,
        now: u64,
    ) -> Result<C, TokenError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(tag), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Invalid("not a three-part JWT"));
        };
        let header_bytes = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| TokenError::Invalid("JWT header is not base64url"))?;
        let header_json: serde_json::Value = serde_json::from_slice(&header_bytes)
            .map_err(|_| TokenError::Invalid("JWT header is not JSON"))?;
        if header_json.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
            return Err(TokenError::Invalid("JWT algorithm is not HS256"));
        }
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| TokenError::Invalid("JWT signature is not base64url"))?;
        let mut mac = self.mac()?;
        mac.update(header.as_bytes());
        mac.update(b".");
        mac.update(payload.as_bytes());
        mac.verify_slice(&tag)
            .map_err(|_| TokenError::Invalid("JWT signature does not verify"))?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Invalid("JWT payload is not base64url"))?;
        let claims: C = serde_json::from_slice(&payload)
            .map_err(|_| TokenError::Invalid("JWT claims are not the expected kind"))?;
        if claims.exp() <= now {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Claims {
        sub: String,
        exp: u64,
    }
    impl Expiring for Claims {
        fn exp(&self) -> u64 {
            self.exp
        }
    }

    fn key() -> TokenKey {
        TokenKey::new(vec![7u8; 32])
    }

    #[test]
    fn round_trip_and_expiry() {
        let t = key()
            .mint(&Claims {
                sub: "us-1".into(),
                exp: 100,
            })
            .expect("mint");
        let c: Claims = key().verify(&t, 99).expect("valid");
        assert_eq!(c.sub, "us-1");
        assert_eq!(key().verify::<Claims>(&t, 100), Err(TokenError::Expired));
    }

    #[test]
    fn tampering_and_other_keys_fail() {
        let t = key()
            .mint(&Claims {
                sub: "us-1".into(),
                exp: 100,
            })
            .expect("mint");
        let other = TokenKey::new(vec![8u8; 32]);
        assert!(matches!(
            other.verify::<Claims>(&t, 0),
            Err(TokenError::Invalid(_))
        ));
        let forged_payload = URL_SAFE_NO_PAD.encode(r#"{"sub":"us-2","exp":100}"#);
        let mut parts: Vec<&str> = t.split('.').collect();
        parts[1] = &forged_payload;
        assert!(matches!(
            key().verify::<Claims>(&parts.join("."), 0),
            Err(TokenError::Invalid(_))
        ));
        assert!(key().verify::<Claims>("a.b", 0).is_err());
    }

    #[test]
    fn alg_none_is_rejected() {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#);
        let payload = URL_SAFE_NO_PAD.encode(r#"{"sub":"x","exp":99999999999}"#);
        let t = format!("{header}.{payload}.");
        assert!(key().verify::<Claims>(&t, 0).is_err());
    }
}
