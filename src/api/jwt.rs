//! Reading the claims of a Dfns bearer token (a JWT) for diagnostics only.
//!
//! The signature is **not** verified: Dfns verifies its own tokens. The claims only serve
//! messages such as "token expired on 2026-01-02T03:04:05Z" or "this token belongs to org X".

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The claims of a Dfns token that diagnostics use; everything else is kept in `extra`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenClaims {
    /// Expiry, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    /// Issue time, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Dfns's custom claim (`https://custom/app_metadata`), where it puts org and user ids.
    #[serde(
        rename = "https://custom/app_metadata",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub app_metadata: Option<AppMetadata>,
    /// Claims this version does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The `https://custom/app_metadata` claim of a Dfns token.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppMetadata {
    /// The organization the token belongs to (`or-...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    /// The user (or service account) the token acts as (`us-...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The token kind, e.g. `ServiceAccount`, `Pat`, `Temp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_kind: Option<String>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl TokenClaims {
    /// Decode the payload (second part) of a JWT without verifying it.
    ///
    /// Returns a short reason when the token is not a JWT; the reason never contains the token.
    pub fn decode(jwt: &str) -> Result<Self, String> {
        let mut parts = jwt.split('.');
        let payload = match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(_), Some(p), Some(_), None) if !p.is_empty() => p,
            _ => return Err("it is not a JWT (expected three dot-separated parts)".to_owned()),
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(payload)
            .or_else(|_| URL_SAFE.decode(payload))
            .map_err(|_| "its payload is not base64url".to_owned())?;
        serde_json::from_slice(&bytes).map_err(|e| format!("its payload is not a JSON object: {e}"))
    }

    /// When the token expires, if it says.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.exp
            .and_then(|s| UNIX_EPOCH.checked_add(Duration::from_secs(s)))
    }

    /// Whether the token has expired at `now` (false when it has no `exp`).
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        self.expires_at().is_some_and(|t| t <= now)
    }

    /// The org id from the Dfns claim.
    pub fn org_id(&self) -> Option<&str> {
        self.app_metadata.as_ref()?.org_id.as_deref()
    }

    /// The user id from the Dfns claim.
    pub fn user_id(&self) -> Option<&str> {
        self.app_metadata.as_ref()?.user_id.as_deref()
    }

    /// One line for messages, e.g. `org or-1, user us-2, expires 2026-01-02T03:04:05Z`.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(o) = self.org_id() {
            parts.push(format!("org {o}"));
        }
        if let Some(u) = self.user_id() {
            parts.push(format!("user {u}"));
        }
        if let Some(e) = self.exp {
            parts.push(format!("expires {}", format_unix_time(e)));
        }
        if parts.is_empty() {
            "no Dfns claims".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

/// Format seconds since the Unix epoch as RFC 3339 UTC (`2026-01-02T03:04:05Z`).
pub fn format_unix_time(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Build an unsigned JWT with the given payload (tests only).
    pub(crate) fn jwt_with(payload: &Value) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(payload.to_string());
        format!("{header}.{body}.c2ln")
    }

    #[test]
    fn decodes_exp_and_dfns_ids() {
        let jwt = jwt_with(&serde_json::json!({
            "exp": 1_767_323_045u64, "iat": 1, "sub": "or-1",
            "https://custom/app_metadata": {"orgId":"or-1","userId":"us-2","tokenKind":"ServiceAccount","tenantId":"t"},
            "https://custom/username": "bot"
        }));
        let c = TokenClaims::decode(&jwt).expect("decode");
        assert_eq!(c.exp, Some(1_767_323_045));
        assert_eq!(c.org_id(), Some("or-1"));
        assert_eq!(c.user_id(), Some("us-2"));
        assert!(c.extra.contains_key("https://custom/username"));
        assert!(c
            .app_metadata
            .as_ref()
            .expect("meta")
            .extra
            .contains_key("tenantId"));
        assert_eq!(
            c.summary(),
            "org or-1, user us-2, expires 2026-01-02T03:04:05Z"
        );
        let exp = c.expires_at().expect("exp");
        assert!(c.is_expired_at(exp));
        assert!(!c.is_expired_at(exp - Duration::from_secs(1)));
    }

    #[test]
    fn padded_payloads_are_tolerated() {
        let payload = URL_SAFE.encode(r#"{"exp":1}"#);
        let c = TokenClaims::decode(&format!("a.{payload}.b")).expect("decode");
        assert_eq!(c.exp, Some(1));
    }

    #[test]
    fn non_jwts_are_reported_without_the_token() {
        let e = TokenClaims::decode("secret-opaque-token").expect_err("not a jwt");
        assert!(!e.contains("secret"));
        assert!(TokenClaims::decode("a.!!!.c").is_err());
        assert!(TokenClaims::decode("a.YQ.c").is_err());
        assert!(TokenClaims::decode("a..c").is_err());
    }

    #[test]
    fn formats_dates() {
        assert_eq!(format_unix_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_unix_time(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_unix_time(4_102_444_799), "2099-12-31T23:59:59Z");
    }
}
