//! [`DfnsClient`]: one API, one token, an optional signer, one connection pool.

use std::future::Future;
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
use super::retry::{is_safe_method, Check, Counters, Retries, RetryPolicy, RetryStats, Settled};
use super::target::RequestTarget;
use super::transport::{expect_done, RawResponse, Transport};
use super::user_action;
use super::user_action_token::UserActionToken;
use crate::signer::AuditLog;
use crate::signer::{FirstFactor, Signer, UserActionChallenge};

/// `User-Agent` sent on every request.
pub const USER_AGENT: &str = concat!("dfns-hsm/", env!("CARGO_PKG_VERSION"));
/// Default limit for establishing a connection (TCP + TLS).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default limit for a whole request, response body included.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A Dfns API client. Cheap to clone; clones share the connection pool and retry counters.
///
/// Calls are retried according to its [`RetryPolicy`]; see [`super::retry`] for which
/// failures are retried and when a mutation is reconciled instead of being sent again.
#[derive(Clone)]
pub struct DfnsClient {
    transport: Transport,
    signer: Option<Arc<dyn Signer>>,
    audit: Option<Arc<AuditLog>>,
    retry: Arc<RetryPolicy>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for DfnsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DfnsClient")
            .field("api_url", self.transport.base())
            .field("token", self.transport.token())
            .field("signer", &self.signer)
            .field("retry", &self.retry)
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
    retry: RetryPolicy,
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

    /// How calls are retried (default [`RetryPolicy::default`]: 6 attempts, 100 ms base
    /// backoff doubling up to 5 s, full jitter, 60 s deadline; `Retry-After` up to 30 s).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
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
        self.retry
            .validate()
            .map_err(|e| ApiError::Config(format!("invalid retry policy: {e}")))?;
        let counters = Arc::new(Counters::default());
        let transport = Transport::new(
            self.api_url,
            self.token,
            &self.user_agent,
            self.connect_timeout,
            self.request_timeout,
            counters.clone(),
        )?;
        Ok(DfnsClient {
            transport,
            signer: self.signer,
            audit: self.audit,
            retry: Arc::new(self.retry),
            counters,
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
            retry: RetryPolicy::default(),
        }
    }

    /// A client for another identity (e.g. a service account just created) on the same API,
    /// with the same connection pool, timeouts, retry policy and audit log.
    pub fn with_identity(&self, token: AuthToken, signer: Option<Arc<dyn Signer>>) -> DfnsClient {
        DfnsClient {
            transport: self.transport.with_token(token),
            signer,
            ..self.clone()
        }
    }

    /// The same client writing its signatures to `audit` instead (e.g. a log tagged with the
    /// caller a service signs for).
    pub fn with_audit(&self, audit: Option<Arc<AuditLog>>) -> DfnsClient {
        DfnsClient {
            audit,
            ..self.clone()
        }
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// Retry counters of this client and its clones so far.
    pub fn retry_stats(&self) -> RetryStats {
        self.counters.snapshot()
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

    /// Whether `method` on `path_with_query` needs a user action, and which rule decided.
    pub fn user_action_rule(
        &self,
        method: &Method,
        path_with_query: &str,
    ) -> Result<UserActionRule, ApiError> {
        let target = parse_target(path_with_query)?;
        Ok(user_action_rule(method, target.path()))
    }

    /// Call any endpoint. It is user-action signed when the endpoint requires it.
    ///
    /// `path_with_query` starts with `/` (e.g. `/wallets?limit=10`). `body` is sent byte for
    /// byte as given (`RequestBody::raw`) or as compact JSON (`RequestBody::from(value)`).
    ///
    /// Retries: a read (GET) is retried after any retryable failure. Any other method is
    /// retried only when it certainly had no effect (not sent, or refused with 429/503), each
    /// time with a fresh user action; when it may have been carried out (timeout or lost
    /// connection after sending, 500/502/504) the call ends with [`ApiError::OutcomeUnknown`],
    /// since this client cannot check an arbitrary endpoint. The typed calls
    /// ([`Self::service_accounts`]) check and continue instead.
    pub async fn call(
        &self,
        method: Method,
        path_with_query: &str,
        body: Option<RequestBody>,
    ) -> Result<Outcome<ApiResponse>, ApiError> {
        self.call_with(method, path_with_query, body, None).await
    }

    /// [`Self::call`], with the decision to sign made by the caller: `Some(true)` signs
    /// whatever the endpoint table says, `Some(false)` never signs, `None` follows the table.
    /// For endpoints newer than the table; the retry rules are those of [`Self::call`].
    pub async fn call_with(
        &self,
        method: Method,
        path_with_query: &str,
        body: Option<RequestBody>,
        sign: Option<bool>,
    ) -> Result<Outcome<ApiResponse>, ApiError> {
        let target = parse_target(path_with_query)?;
        let sign =
            sign.unwrap_or_else(|| user_action_rule(&method, target.path()).requires_user_action());
        let outcome = self
            .retries()
            .retrying(&method, &target, is_safe_method(&method), || {
                self.attempt_as(&method, &target, body.as_ref(), sign)
            })
            .await?;
        Ok(outcome.map(RawResponse::into_api_response))
    }

    /// Delegated flow, step 1: get a challenge for a request to be signed elsewhere.
    ///
    /// Retried like a read: a challenge that is issued but never used changes nothing.
    pub async fn init_user_action(
        &self,
        method: &Method,
        path_with_query: &str,
        body: Option<&RequestBody>,
    ) -> Result<UserActionChallenge, ApiError> {
        let target = parse_target(path_with_query)?;
        let payload = body.map_or("", RequestBody::as_str);
        let init = RequestTarget::from_parts(user_action::INIT_PATH.to_owned(), None);
        let transport = &self.transport;
        let path = target.path();
        self.retries()
            .retrying(&Method::POST, &init, true, move || {
                user_action::init(transport, method, path, payload)
            })
            .await
    }

    /// Delegated flow, step 2: trade a `firstFactor` for a one-time user-action token.
    ///
    /// Sent once: the challenge is single use, so a lost answer cannot be asked for again.
    pub async fn complete_user_action(
        &self,
        challenge_identifier: &str,
        first_factor: &FirstFactor,
    ) -> Result<UserActionToken, ApiError> {
        user_action::complete(&self.transport, challenge_identifier, first_factor).await
    }

    /// Delegated flow, step 3: send a request with a token from [`Self::complete_user_action`].
    ///
    /// `body` must be the one whose payload was signed in [`Self::init_user_action`]. Sent
    /// once: the token is single use.
    pub async fn call_with_user_action(
        &self,
        method: Method,
        path_with_query: &str,
        body: Option<RequestBody>,
        token: &UserActionToken,
    ) -> Result<Outcome<ApiResponse>, ApiError> {
        let target = parse_target(path_with_query)?;
        let outcome = self
            .transport
            .exchange(&method, &target, body.as_ref(), Some(token))
            .await?;
        Ok(outcome.map(RawResponse::into_api_response))
    }

    /// The user-action flow alone with this client's signer (challenge, signature, one-time
    /// token), without sending the request it authorizes. The token proves that this client's
    /// bearer token, credential and key work together and changes nothing at Dfns; the
    /// signature is audited like any other.
    pub async fn obtain_user_action(
        &self,
        method: &Method,
        path_with_query: &str,
        body: Option<&RequestBody>,
    ) -> Result<UserActionToken, ApiError> {
        let target = parse_target(path_with_query)?;
        self.obtain(method, &target, body).await
    }

    /// The user-action flow with this client's signer, for `method` on `target`.
    async fn obtain(
        &self,
        method: &Method,
        target: &RequestTarget,
        body: Option<&RequestBody>,
    ) -> Result<UserActionToken, ApiError> {
        let signer = self.signer.as_deref().ok_or_else(|| ApiError::NoSigner {
            method: method.clone(),
            target: target.to_string(),
        })?;
        user_action::obtain(
            &self.transport,
            signer,
            self.audit.as_deref(),
            method,
            target,
            body,
        )
        .await
    }

    /// One attempt: the user-action flow when the endpoint needs it (fresh challenge, fresh
    /// signature, fresh token), then the request.
    async fn attempt(
        &self,
        method: &Method,
        target: &RequestTarget,
        body: Option<&RequestBody>,
    ) -> Result<Outcome<RawResponse>, ApiError> {
        let sign = user_action_rule(method, target.path()).requires_user_action();
        self.attempt_as(method, target, body, sign).await
    }

    /// One attempt, signed or not as told.
    async fn attempt_as(
        &self,
        method: &Method,
        target: &RequestTarget,
        body: Option<&RequestBody>,
        sign: bool,
    ) -> Result<Outcome<RawResponse>, ApiError> {
        let token = if sign {
            Some(self.obtain(method, target, body).await?)
        } else {
            None
        };
        self.transport
            .exchange(method, target, body, token.as_ref())
            .await
    }

    /// Send a request with retries (see [`Self::call`] for the rules).
    async fn execute(
        &self,
        method: &Method,
        target: &RequestTarget,
        body: Option<&RequestBody>,
    ) -> Result<Outcome<RawResponse>, ApiError> {
        self.retries()
            .retrying(method, target, is_safe_method(method), move || {
                self.attempt(method, target, body)
            })
            .await
    }

    /// Send a read (retried) and decode its body.
    pub(crate) async fn read<T: serde::de::DeserializeOwned>(
        &self,
        target: &RequestTarget,
    ) -> Result<T, ApiError> {
        let outcome = self.execute(&Method::GET, target, None).await?;
        expect_done(outcome, &Method::GET, target)?.decode(&Method::GET, target)
    }

    /// Send a (possibly signed) mutation with retries and reconciliation: `check` reads the
    /// resource when an attempt's outcome is unknown (see [`Retries::reconciled`]).
    pub(crate) async fn mutate_reconciled<T, F, Fut>(
        &self,
        method: Method,
        target: &RequestTarget,
        body: Option<&RequestBody>,
        check: F,
    ) -> Result<Settled<T>, ApiError>
    where
        T: serde::de::DeserializeOwned,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Check<T>, ApiError>>,
    {
        let method = &method;
        self.retries()
            .reconciled(
                method,
                target,
                move || self.attempt(method, target, body),
                |resp: RawResponse| resp.decode(method, target),
                check,
            )
            .await
    }

    /// Like [`Self::mutate_reconciled`] for a call whose answer carries nothing to decode
    /// (Dfns documents no body for it): the result is `()`, whatever the body.
    pub(crate) async fn mutate_reconciled_unit<F, Fut>(
        &self,
        method: Method,
        target: &RequestTarget,
        body: Option<&RequestBody>,
        check: F,
    ) -> Result<Settled<()>, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Check<()>, ApiError>>,
    {
        let method = &method;
        self.retries()
            .reconciled(
                method,
                target,
                move || self.attempt(method, target, body),
                |_: RawResponse| Ok(()),
                check,
            )
            .await
    }

    /// The retry loops with this client's policy and counters.
    fn retries(&self) -> Retries<'_> {
        Retries {
            policy: &self.retry,
            counters: &self.counters,
        }
    }

    /// Count a create that was carried out but whose token was lost.
    pub(crate) fn count_token_lost(&self, err: &ApiError) {
        self.counters.ended_with(err);
    }
}

/// Parse a caller's `path_with_query`; a bad one is an invalid request.
fn parse_target(path_with_query: &str) -> Result<RequestTarget, ApiError> {
    RequestTarget::parse(path_with_query).map_err(ApiError::InvalidRequest)
}
