//! [`DfnsClient`]: one API, one token, an optional signer, one connection pool.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;

use super::auth_token::AuthToken;
use super::base_url::ApiUrl;
use super::body::RequestBody;
use super::endpoints::{user_action_rule, UserActionRule};
use super::error::ApiError;
use super::jwt::TokenClaims;
use super::outcome::{ApiResponse, Outcome};
use super::service_accounts::ServiceAccounts;
use super::target::RequestTarget;
use super::transport::{RawResponse, Transport};
use super::user_action::{self, UserActionToken};
use crate::signer::AuditLog;
use crate::signer::{FirstFactor, Signer, UserActionChallenge};

/// `User-Agent` sent on every request.
pub const USER_AGENT: &str = concat!("dfns-hsm/", env!("CARGO_PKG_VERSION"));
/// Default limit for establishing a connection (TCP + TLS).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default limit for a whole request, response body included.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A Dfns API client. Cheap to clone; clones share the connection pool.
#[derive(Clone)]
pub struct DfnsClient {
    transport: Transport,
    signer: Option<Arc<dyn Signer>>,
    audit: Option<Arc<AuditLog>>,
}

impl std::fmt::Debug for DfnsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DfnsClient")
            .field("api_url", self.transport.base())
            .field("token", self.transport.token())
            .field("signer", &self.signer)
            .finish()
    }
}

/// Builds a [`DfnsClient`].
#[derive(Debug)]
pub struct ClientBuilder {
    api_url: ApiUrl,
    token: AuthToken,
    signer: Option<Arc<dyn Signer>>,
    audit: Option<Arc<AuditLog>>,
    connect_timeout: Duration,
    request_timeout: Duration,
    user_agent: String,
}

impl ClientBuilder {
    /// Append one JSON line per user-action signature to this audit log.
    pub fn audit(mut self, log: Option<Arc<AuditLog>>) -> Self {
        self.audit = log;
        self
    }

    /// Sign user actions with this signer (needed for every mutating endpoint).
    pub fn signer(mut self, signer: Arc<dyn Signer>) -> Self {
        self.signer = Some(signer);
        self
    }

    /// Sign user actions with this signer, if any.
    pub fn maybe_signer(mut self, signer: Option<Arc<dyn Signer>>) -> Self {
        self.signer = signer;
        self
    }

    /// Limit for establishing a connection (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Limit for each whole request (default 30 s). A signed call makes three requests.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Append a product token to the `User-Agent`, e.g. `my-service/1.2`.
    pub fn user_agent_suffix(mut self, suffix: &str) -> Self {
        self.user_agent = format!("{USER_AGENT} {suffix}");
        self
    }

    /// Build the client (and its connection pool).
    pub fn build(self) -> Result<DfnsClient, ApiError> {
        if self.connect_timeout.is_zero() || self.request_timeout.is_zero() {
            return Err(ApiError::Config(
                "timeouts must be greater than zero".into(),
            ));
        }
        let transport = Transport::new(
            self.api_url,
            self.token,
            &self.user_agent,
            self.connect_timeout,
            self.request_timeout,
        )?;
        Ok(DfnsClient {
            transport,
            signer: self.signer,
            audit: self.audit,
        })
    }
}

impl DfnsClient {
    /// Start building a client for `api_url` authenticated by `token`.
    pub fn builder(api_url: ApiUrl, token: AuthToken) -> ClientBuilder {
        ClientBuilder {
            api_url,
            token,
            signer: None,
            audit: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            user_agent: USER_AGENT.to_owned(),
        }
    }

    /// The API base URL.
    pub fn api_url(&self) -> &ApiUrl {
        self.transport.base()
    }

    /// The signer, if one is configured.
    pub fn signer(&self) -> Option<&Arc<dyn Signer>> {
        self.signer.as_ref()
    }

    /// The claims of the client's token, decoded without verification (for diagnostics).
    pub fn token_claims(&self) -> Result<TokenClaims, String> {
        self.transport.token().claims()
    }

    /// Service-account calls.
    pub fn service_accounts(&self) -> ServiceAccounts<'_> {
        ServiceAccounts::new(self)
    }

    /// Whether `method` on `path_with_query` needs a user action, and which rule decided.
    pub fn user_action_rule(
        &self,
        method: &Method,
        path_with_query: &str,
    ) -> Result<UserActionRule, ApiError> {
        let target = RequestTarget::parse(path_with_query).map_err(ApiError::InvalidRequest)?;
        Ok(user_action_rule(method, target.path()))
    }

    /// Call any endpoint. It is user-action signed when the endpoint requires it.
    ///
    /// `path_with_query` starts with `/` (e.g. `/wallets?limit=10`). `body` is sent byte for
    /// byte as given (`RequestBody::raw`) or as compact JSON (`RequestBody::from(value)`).
    pub async fn call(
        &self,
        method: Method,
        path_with_query: &str,
        body: Option<RequestBody>,
    ) -> Result<Outcome<ApiResponse>, ApiError> {
        let target = RequestTarget::parse(path_with_query).map_err(ApiError::InvalidRequest)?;
        let outcome = self.execute(&method, &target, body.as_ref()).await?;
        Ok(outcome.map(|r| ApiResponse {
            status: r.status,
            body: r.json_or_text(),
            request_id: r.request_id,
        }))
    }

    /// Delegated flow, step 1: get a challenge for a request to be signed elsewhere.
    pub async fn init_user_action(
        &self,
        method: &Method,
        path_with_query: &str,
        body: Option<&RequestBody>,
    ) -> Result<UserActionChallenge, ApiError> {
        let target = RequestTarget::parse(path_with_query).map_err(ApiError::InvalidRequest)?;
        let payload = body.map_or("", RequestBody::as_str);
        user_action::init(&self.transport, method, target.path(), payload).await
    }

    /// Delegated flow, step 2: trade a `firstFactor` for a one-time user-action token.
    pub async fn complete_user_action(
        &self,
        challenge_identifier: &str,
        first_factor: &FirstFactor,
    ) -> Result<UserActionToken, ApiError> {
        user_action::complete(&self.transport, challenge_identifier, first_factor).await
    }

    /// Delegated flow, step 3: send a request with a token from [`Self::complete_user_action`].
    ///
    /// `body` must be the one whose payload was signed in [`Self::init_user_action`].
    pub async fn call_with_user_action(
        &self,
        method: Method,
        path_with_query: &str,
        body: Option<RequestBody>,
        token: &UserActionToken,
    ) -> Result<Outcome<ApiResponse>, ApiError> {
        let target = RequestTarget::parse(path_with_query).map_err(ApiError::InvalidRequest)?;
        let resp = self
            .transport
            .send(&method, &target, body.as_ref(), Some(token))
            .await?;
        let outcome = self.transport.classify(&method, &target, resp)?;
        Ok(outcome.map(|r| ApiResponse {
            status: r.status,
            body: r.json_or_text(),
            request_id: r.request_id,
        }))
    }

    /// Send one request, running the user-action flow first when the endpoint needs it.
    pub(crate) async fn execute(
        &self,
        method: &Method,
        target: &RequestTarget,
        body: Option<&RequestBody>,
    ) -> Result<Outcome<RawResponse>, ApiError> {
        let token = if user_action_rule(method, target.path()).requires_user_action() {
            let signer = self.signer.as_deref().ok_or_else(|| ApiError::NoSigner {
                method: method.clone(),
                target: target.to_string(),
            })?;
            Some(
                user_action::obtain(
                    &self.transport,
                    signer,
                    self.audit.as_deref(),
                    method,
                    target,
                    body,
                )
                .await?,
            )
        } else {
            None
        };
        let resp = self
            .transport
            .send(method, target, body, token.as_ref())
            .await?;
        self.transport.classify(method, target, resp)
    }

    /// Send a read and decode its body.
    pub(crate) async fn read<T: serde::de::DeserializeOwned>(
        &self,
        target: &RequestTarget,
    ) -> Result<T, ApiError> {
        let resp = self
            .transport
            .send_expect_done(&Method::GET, target, None)
            .await?;
        resp.decode(&Method::GET, target)
    }

    /// Send a (possibly signed) mutation and decode its body unless approval is pending.
    pub(crate) async fn mutate<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        target: &RequestTarget,
        body: Option<&RequestBody>,
    ) -> Result<Outcome<T>, ApiError> {
        match self.execute(&method, target, body).await? {
            Outcome::Done(resp) => Ok(Outcome::Done(resp.decode(&method, target)?)),
            Outcome::PendingApproval(v) => Ok(Outcome::PendingApproval(v)),
        }
    }
}
