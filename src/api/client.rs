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
use super::retry::{
    classify, is_safe_method, Budget, Check, Counters, Failure, RetryPolicy, RetryStats, Settled,
};
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
        let target = RequestTarget::parse(path_with_query).map_err(ApiError::InvalidRequest)?;
        let outcome = self.execute(&method, &target, body.as_ref()).await?;
        Ok(outcome.map(|r| ApiResponse {
            status: r.status,
            body: r.json_or_text(),
            request_id: r.request_id,
        }))
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
        let target = RequestTarget::parse(path_with_query).map_err(ApiError::InvalidRequest)?;
        let payload = body.map_or("", RequestBody::as_str);
        let init = RequestTarget::from_parts(user_action::INIT_PATH.to_owned(), None);
        let transport = &self.transport;
        let path = target.path();
        self.retrying(&Method::POST, &init, true, move || {
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
        let target = RequestTarget::parse(path_with_query).map_err(ApiError::InvalidRequest)?;
        let signer = self.signer.as_deref().ok_or_else(|| ApiError::NoSigner {
            method: method.clone(),
            target: target.to_string(),
        })?;
        user_action::obtain(
            &self.transport,
            signer,
            self.audit.as_deref(),
            method,
            &target,
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

    /// Run `attempt` until it succeeds or fails for good. A failure that may have left the
    /// request carried out ([`Failure::Unknown`]) is retried only when `resend_unknown`;
    /// otherwise the call ends with [`ApiError::OutcomeUnknown`].
    async fn retrying<T, F, Fut>(
        &self,
        method: &Method,
        target: &RequestTarget,
        resend_unknown: bool,
        mut attempt: F,
    ) -> Result<T, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let mut budget = Budget::new(&self.retry, &self.counters, method, target.path());
        let result = loop {
            budget.begin_attempt();
            let err = match attempt().await {
                Ok(v) => break Ok(v),
                Err(e) => e,
            };
            match classify(&err) {
                Failure::Final => break Err(err),
                Failure::Unknown { .. } if !resend_unknown => {
                    break Err(ApiError::OutcomeUnknown {
                        method: method.clone(),
                        target: target.to_string(),
                        attempts: budget.attempts(),
                        source: Box::new(err),
                        check: None,
                    })
                }
                Failure::Unknown { .. } | Failure::NotApplied { .. } => {
                    if let Err(why) = budget.pause(&err).await {
                        break Err(budget.exhausted(err, why));
                    }
                }
            }
        };
        self.counted(result)
    }

    /// Send a request with retries (see [`Self::call`] for the rules).
    pub(crate) async fn execute(
        &self,
        method: &Method,
        target: &RequestTarget,
        body: Option<&RequestBody>,
    ) -> Result<Outcome<RawResponse>, ApiError> {
        self.retrying(method, target, is_safe_method(method), move || {
            self.attempt(method, target, body)
        })
        .await
    }

    /// Send a read (retried) and decode its body.
    pub(crate) async fn read<T: serde::de::DeserializeOwned>(
        &self,
        target: &RequestTarget,
    ) -> Result<T, ApiError> {
        match self.execute(&Method::GET, target, None).await? {
            Outcome::Done(resp) => resp.decode(&Method::GET, target),
            Outcome::PendingApproval(v) => Err(ApiError::UnexpectedResponse {
                method: Method::GET,
                target: target.to_string(),
                status: 202,
                reason: "a policy approval is pending for a call that should not need one".into(),
                body: super::error::RawBody(v.to_string()),
            }),
        }
    }

    /// Send a (possibly signed) mutation with retries and reconciliation.
    ///
    /// - Not carried out for sure (not sent, 429, 503, the user-action flow failed): sent
    ///   again after a backoff, with a fresh user action.
    /// - Maybe carried out (timeout or lost connection after sending, 500/502/504): after the
    ///   backoff, `check` reads the resource. [`Check::Applied`] ends the call with
    ///   [`Settled::Reconciled`]; [`Check::NotApplied`] sends it again; a failed check ends it
    ///   with [`ApiError::OutcomeUnknown`].
    /// - A definite refusal (e.g. 409, 404) after an attempt was in doubt is checked too: an
    ///   earlier attempt may have made the change the refusal is about.
    pub(crate) async fn mutate_reconciled<T, F, Fut>(
        &self,
        method: Method,
        target: &RequestTarget,
        body: Option<&RequestBody>,
        mut check: F,
    ) -> Result<Settled<T>, ApiError>
    where
        T: serde::de::DeserializeOwned,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Check<T>, ApiError>>,
    {
        let mut budget = Budget::new(&self.retry, &self.counters, &method, target.path());
        // The last attempt that may have been carried out, if any.
        let mut doubt: Option<ApiError> = None;
        let result = loop {
            budget.begin_attempt();
            let err = match self.attempt(&method, target, body).await {
                Ok(Outcome::Done(resp)) => {
                    break resp
                        .decode(&method, target)
                        .map(|v| Settled::Answered(Outcome::Done(v)))
                }
                Ok(Outcome::PendingApproval(v)) => {
                    break Ok(Settled::Answered(Outcome::PendingApproval(v)))
                }
                Err(e) => e,
            };
            match classify(&err) {
                Failure::NotApplied { .. } => {
                    if let Err(why) = budget.pause(&err).await {
                        break Err(budget.exhausted(err, why));
                    }
                }
                Failure::Final => {
                    let Some(cause) = doubt.take() else {
                        break Err(err);
                    };
                    break match self.check(&mut check, &method, target).await {
                        Ok(Check::Applied(value)) => Ok(Settled::Reconciled { value, cause }),
                        Ok(Check::NotApplied) => Err(err),
                        Err(c) => Err(self.unknown(&method, target, &budget, cause, c)),
                    };
                }
                Failure::Unknown { .. } => {
                    // Wait first: a request still in flight gets time to land before the check.
                    let pause = budget.pause(&err).await;
                    match self.check(&mut check, &method, target).await {
                        Ok(Check::Applied(value)) => {
                            break Ok(Settled::Reconciled { value, cause: err })
                        }
                        Ok(Check::NotApplied) => {}
                        Err(c) => break Err(self.unknown(&method, target, &budget, err, c)),
                    }
                    if let Err(why) = pause {
                        break Err(budget.exhausted(err, why));
                    }
                    doubt = Some(err);
                }
            }
        };
        self.counted(result)
    }

    /// Run a reconciliation check and count it.
    async fn check<T, F, Fut>(
        &self,
        check: &mut F,
        method: &Method,
        target: &RequestTarget,
    ) -> Result<Check<T>, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Check<T>, ApiError>>,
    {
        let checked = check().await;
        let applied = matches!(checked, Ok(Check::Applied(_)));
        self.counters.reconciliation(applied);
        tracing::warn!(
            %method,
            path = target.path(),
            applied,
            check_failed = checked.is_err(),
            "dfns api mutation outcome was unknown; checked the resource"
        );
        checked
    }

    fn unknown(
        &self,
        method: &Method,
        target: &RequestTarget,
        budget: &Budget<'_>,
        source: ApiError,
        check: ApiError,
    ) -> ApiError {
        ApiError::OutcomeUnknown {
            method: method.clone(),
            target: target.to_string(),
            attempts: budget.attempts(),
            source: Box::new(source),
            check: Some(Box::new(check)),
        }
    }

    /// Count how a call ended, then return its result.
    fn counted<T>(&self, result: Result<T, ApiError>) -> Result<T, ApiError> {
        if let Err(e) = &result {
            self.counters.ended_with(e);
        }
        result
    }

    /// Count a create that was carried out but whose token was lost.
    pub(crate) fn count_token_lost(&self, err: &ApiError) {
        self.counters.ended_with(err);
    }
}
