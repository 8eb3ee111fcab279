//! Bearer authentication: access-token claims, minting, and the [`Caller`] extractor.
//!
//! Tokens are HS256 JWTs. Like Dfns's, they carry the org id under the claim
//! `https://custom/app_metadata` (the TS SDK reads it from there). A token stops working when
//! it expires, when its user is deactivated or archived, or when it is not the user's current
//! token id.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::clock;
use crate::error::ApiError;
use crate::state::User;
use crate::token::{Expiring, TokenError, TokenKey};

/// `purpose` value of access tokens (keeps challenge ids and user actions out of `Bearer`).
const PURPOSE: &str = "access";

/// Dfns-style custom claims.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppMetadata {
    /// `or-…`.
    pub org_id: String,
    /// `us-…`.
    pub user_id: String,
    /// `to-…`.
    pub token_id: String,
    /// `ServiceAccount` or `Temp` (an interactive-style admin token).
    pub token_kind: String,
}

/// Claims of a bearer token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer, `dfns-emulator`.
    pub iss: String,
    /// Audience, `dfns:auth:user`.
    pub aud: String,
    /// The user id.
    pub sub: String,
    /// The token id.
    pub jti: String,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Token family, always `access`.
    pub purpose: String,
    /// Org, user and token ids, where the Dfns SDKs look for them.
    #[serde(rename = "https://custom/app_metadata")]
    pub app_metadata: AppMetadata,
    /// The user's username.
    #[serde(rename = "https://custom/username")]
    pub username: String,
}

impl Expiring for AccessClaims {
    fn exp(&self) -> u64 {
        self.exp
    }
}

/// Mint a bearer token for `user` (its current token id) expiring at `exp` (Unix seconds).
pub fn mint_access_token(
    key: &TokenKey,
    org_id: &str,
    user: &User,
    exp: u64,
) -> Result<String, ApiError> {
    let claims = AccessClaims {
        iss: "dfns-emulator".into(),
        aud: "dfns:auth:user".into(),
        sub: user.user_id.clone(),
        jti: user.token.token_id.clone(),
        iat: clock::now_secs(),
        exp,
        purpose: PURPOSE.into(),
        app_metadata: AppMetadata {
            org_id: org_id.into(),
            user_id: user.user_id.clone(),
            token_id: user.token.token_id.clone(),
            token_kind: if user.is_service_account {
                "ServiceAccount".into()
            } else {
                "Temp".into()
            },
        },
        username: user.username.clone(),
    };
    key.mint(&claims)
        .map_err(|_| ApiError::internal("could not mint an access token"))
}

/// The authenticated user behind a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// `us-…`.
    pub user_id: String,
    /// `to-…` of the bearer token used.
    pub token_id: String,
    /// True when the caller is a service account.
    pub is_service_account: bool,
    /// The caller's Key credential id.
    pub cred_id: String,
    /// The caller's Key credential public key (PEM).
    pub public_key: String,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
            ApiError::unauthorized(
                "token_missing",
                "Not Authorized: the Authorization: Bearer <token> header is missing",
            )
        })?;
        let value = header.to_str().unwrap_or("");
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "token_invalid",
                    "Not Authorized: the Authorization header must be `Bearer <token>`",
                )
            })?;
        let claims: AccessClaims =
            app.key
                .verify(token, clock::now_secs())
                .map_err(|e| match e {
                    TokenError::Expired => ApiError::unauthorized(
                        "token_expired",
                        "Not Authorized: the bearer token has expired (check its exp claim)",
                    ),
                    TokenError::Invalid(why) => ApiError::unauthorized(
                        "token_invalid",
                        format!("Not Authorized: user token is missing or invalid ({why})"),
                    ),
                })?;
        if claims.purpose != PURPOSE {
            return Err(ApiError::unauthorized(
                "token_invalid",
                "Not Authorized: this token is not an access token",
            ));
        }
        let inner = app.lock();
        if claims.app_metadata.org_id != inner.state.org_id {
            return Err(ApiError::unauthorized(
                "token_invalid",
                "Not Authorized: the token belongs to another organization",
            ));
        }
        let user = inner
            .state
            .live_user(&claims.sub)
            .filter(|u| u.token.token_id == claims.jti)
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "token_revoked",
                    "Not Authorized: the token's user or service account no longer exists (archived)",
                )
            })?;
        if !user.is_active {
            return Err(ApiError::unauthorized(
                "user_deactivated",
                format!(
                    "Not Authorized: user account {} has been deactivated",
                    user.user_id
                ),
            ));
        }
        Ok(Caller {
            user_id: user.user_id.clone(),
            token_id: user.token.token_id.clone(),
            is_service_account: user.is_service_account,
            cred_id: user.credential.cred_id.clone(),
            public_key: user.credential.public_key.clone(),
        })
    }
}
