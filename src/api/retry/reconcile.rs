//! The two retry loops: a plain one (reads, and mutations that cannot be checked) and the
//! reconciled one, which reads the resource when a mutation's outcome is unknown instead of
//! sending it again blindly. Each resource says how to check it (a `check` closure); the
//! loop decides when.

use std::future::Future;

use reqwest::Method;

use super::budget::Budget;
use super::classify::{classify, Failure};
use super::policy::RetryPolicy;
use super::stats::Counters;
use crate::api::error::ApiError;
use crate::api::outcome::Outcome;
use crate::api::target::RequestTarget;

/// What a reconciliation check found.
pub(crate) enum Check<T> {
    /// The mutation is in effect; this is the resource as it now is.
    Applied(T),
    /// The mutation is not in effect: sending it again is safe.
    NotApplied,
}

/// How a reconciled mutation ended.
pub(crate) enum Settled<T> {
    /// The server answered an attempt.
    Answered(Outcome<T>),
    /// No answer came back for an attempt, and a check found the change in effect.
    Reconciled {
        /// The resource as the check read it.
        value: T,
        /// What happened to the attempt whose answer was lost.
        cause: ApiError,
    },
}

/// What the loops need from a client: its policy, and the counters they update.
#[derive(Clone, Copy)]
pub(crate) struct Retries<'a> {
    /// How calls retry.
    pub policy: &'a RetryPolicy,
    /// The client's counters (shared by its clones).
    pub counters: &'a Counters,
}

impl Retries<'_> {
    /// Run `attempt` until it succeeds or fails for good. A failure that may have left the
    /// request carried out ([`Failure::Unknown`]) is retried only when `resend_unknown`;
    /// otherwise the call ends with [`ApiError::OutcomeUnknown`].
    pub async fn retrying<T, F, Fut>(
        self,
        method: &Method,
        target: &RequestTarget,
        resend_unknown: bool,
        mut attempt: F,
    ) -> Result<T, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let mut budget = Budget::new(self.policy, self.counters, method, target.path());
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

    /// Send a mutation (`attempt`) with retries and reconciliation; `decode` turns a completed
    /// answer into the resource.
    ///
    /// - Not carried out for sure (not sent, 429, 503, the user-action flow failed): sent
    ///   again after a backoff (each attempt runs a fresh user action).
    /// - Maybe carried out (timeout or lost connection after sending, 500/502/504): after the
    ///   backoff, `check` reads the resource. [`Check::Applied`] ends the call with
    ///   [`Settled::Reconciled`]; [`Check::NotApplied`] sends it again; a failed check ends it
    ///   with [`ApiError::OutcomeUnknown`].
    /// - A definite refusal (e.g. 409, 404) after an attempt was in doubt is checked too: an
    ///   earlier attempt may have made the change the refusal is about.
    /// - A completed answer that `decode` refuses ends the call: it was carried out.
    pub async fn reconciled<R, T, A, AFut, D, C, CFut>(
        self,
        method: &Method,
        target: &RequestTarget,
        mut attempt: A,
        decode: D,
        mut check: C,
    ) -> Result<Settled<T>, ApiError>
    where
        A: FnMut() -> AFut,
        AFut: Future<Output = Result<Outcome<R>, ApiError>>,
        D: Fn(R) -> Result<T, ApiError>,
        C: FnMut() -> CFut,
        CFut: Future<Output = Result<Check<T>, ApiError>>,
    {
        let mut budget = Budget::new(self.policy, self.counters, method, target.path());
        // The last attempt that may have been carried out, if any.
        let mut doubt: Option<ApiError> = None;
        let result = loop {
            budget.begin_attempt();
            let err = match attempt().await {
                Ok(Outcome::Done(resp)) => {
                    break decode(resp).map(|v| Settled::Answered(Outcome::Done(v)))
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
                    break match self.check(&mut check, method, target).await {
                        Ok(Check::Applied(value)) => Ok(Settled::Reconciled { value, cause }),
                        Ok(Check::NotApplied) => Err(err),
                        Err(c) => Err(unknown(method, target, &budget, cause, c)),
                    };
                }
                Failure::Unknown { .. } => {
                    // Wait first: a request still in flight gets time to land before the check.
                    let pause = budget.pause(&err).await;
                    match self.check(&mut check, method, target).await {
                        Ok(Check::Applied(value)) => {
                            break Ok(Settled::Reconciled { value, cause: err })
                        }
                        Ok(Check::NotApplied) => {}
                        Err(c) => break Err(unknown(method, target, &budget, err, c)),
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
        self,
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

    /// Count how a call ended, then return its result.
    fn counted<T>(self, result: Result<T, ApiError>) -> Result<T, ApiError> {
        if let Err(e) = &result {
            self.counters.ended_with(e);
        }
        result
    }
}

/// The error of a mutation whose outcome stays unknown because its check failed too.
fn unknown(
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
