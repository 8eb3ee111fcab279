//! The Dfns HTTP client: transport, the user-action flow and typed endpoints.
//!
//! This layer knows HTTP and the Dfns wire format and takes any [`Signer`](crate::signer::Signer)
//! for user-action signing; it knows nothing of PKCS#11.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use dfns_hsm::api::{ApiUrl, AuthToken, DfnsClient, Outcome};
//! use dfns_hsm::signer::SoftwareSigner;
//!
//! let token = AuthToken::from_file(std::path::Path::new("admin.token"))?;
//! let signer = SoftwareSigner::from_pem_file(std::path::Path::new("admin.key.pem"), "cred-id")?;
//! let client = DfnsClient::builder(ApiUrl::parse("https://api.dfns.io")?, token)
//!     .signer(Arc::new(signer))
//!     .build()?;
//! for account in client.service_accounts().list().await?.items {
//!     println!("{} {}", account.user_info.user_id, account.user_info.name);
//! }
//! match client.service_accounts().deactivate("us-...", false).await? {
//!     Outcome::Done(account) => println!("deactivated {}", account.user_info.user_id),
//!     Outcome::PendingApproval(body) => println!("waiting for policy approval: {body}"),
//! }
//! # Ok(()) }
//! ```
//!
//! Protocol rules this module enforces (from the Dfns API reference, "Request signing" and
//! "User action signing"):
//! - every request carries `Authorization: Bearer`, a `User-Agent` of `dfns-hsm/<version>`, and
//!   never the retired `X-DFNS-APPID` / `X-DFNS-NONCE`;
//! - a request body is serialized once ([`RequestBody`]); the same bytes are the
//!   `userActionPayload` and the HTTP body;
//! - **empty bodies**: a request without a body is sent with no body (and no `Content-Type`),
//!   and its `userActionPayload` is `""`. Activate, archive and an unforced deactivate are sent
//!   this way; a forced deactivate sends `{"force":true}`;
//! - `userActionHttpPath` is the request path without its query string;
//! - which endpoints need a user action comes from [`endpoints`], a table taken from the spec;
//! - each user-action token is used once: every attempt of a signed call runs the whole flow
//!   again (fresh challenge, fresh signature, fresh token);
//! - retries ([`retry`]): reads are retried after timeouts, lost connections, 429 and 5xx;
//!   a mutation is sent again only when it certainly had no effect (not sent, 429, 503). When
//!   it may have been carried out (timeout or lost connection after sending, 500/502/504),
//!   the typed service-account calls read the account to decide, and a generic
//!   [`DfnsClient::call`] stops with [`ApiError::OutcomeUnknown`]. A create whose answer
//!   was lost ends with [`ApiError::CreatedTokenLost`]: the account exists, its token is gone.
//! - HTTP 202 is [`Outcome::PendingApproval`], not an error.

mod auth_token;
mod base_url;
mod body;
mod client;
pub mod endpoints;
mod error;
mod http_error;
mod jwt;
mod outcome;
mod permission_types;
mod permissions;
pub mod retry;
mod service_accounts;
mod target;
mod transport;
mod types;
mod user_action;
mod user_action_token;

#[cfg(test)]
mod tests;

pub use auth_token::{AuthToken, AuthTokenError, ENV_AUTH_TOKEN, ENV_AUTH_TOKEN_FILE};
pub use base_url::{ApiUrl, ApiUrlError, DEFAULT_API_URL};
pub use body::RequestBody;
pub use client::{ClientBuilder, DfnsClient, USER_AGENT};
pub use endpoints::UserActionRule;
pub use error::{ApiError, GiveUpReason, Phase, RawBody};
pub use http_error::{parse_error_body, AuthFailure, HttpError};
pub use jwt::{format_unix_time, AppMetadata, TokenClaims};
pub use outcome::{ApiResponse, Outcome};
pub use permission_types::{
    AssignPermission, Assignment, AssignmentList, CreatePermission, Permission, PermissionList,
    UpdatePermission,
};
pub use permissions::Permissions;
pub use reqwest::Method;
pub use retry::{RetryPolicy, RetryStats};
pub use service_accounts::ServiceAccounts;
pub use target::is_dot_segment;
/// The HTTP client with the API transport rules (no redirects, no proxy for loopback), for
/// the CLI's `doctor` probe.
#[cfg(feature = "cli")]
pub(crate) use transport::http_client;
pub use types::{
    AccessToken, CreateServiceAccount, PermissionAssignment, ServiceAccount, ServiceAccountList,
    UpdateServiceAccount, UserInfo,
};
pub use user_action_token::UserActionToken;
