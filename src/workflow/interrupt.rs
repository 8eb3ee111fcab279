//! Stopping a workflow early without losing what Dfns hands out once.
//!
//! A service account's access token exists only in the create response. A workflow therefore
//! splits its run in two kinds of steps: those a stop may end at once (nothing is created yet,
//! or what is left is a read or a proof that changes nothing), and the *critical* one, from the
//! moment the create call starts until its token is stored, which a stop never cuts: the stop is
//! deferred until that step is done, and the workflow stops right after it.

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

/// A request to stop a workflow, shared between whoever asks (a signal handler) and the
/// workflow. Clones share one state; a new one has no stop requested.
#[derive(Debug, Clone)]
pub struct Interrupt {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    requested: watch::Sender<bool>,
}

#[derive(Debug, Default)]
struct State {
    requested: bool,
    critical: bool,
}

/// What [`Interrupt::request`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopRequest {
    /// The workflow stops at its next step (or has stopped already).
    Stopping,
    /// The workflow is in a step that must finish (a create whose one-time token would
    /// otherwise be lost); it stops as soon as that step is done.
    Deferred,
}

impl Default for Interrupt {
    fn default() -> Self {
        Self::new()
    }
}

impl Interrupt {
    /// No stop requested.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                requested: watch::Sender::new(false),
            }),
        }
    }

    /// Ask the workflow to stop. Safe to call any number of times, from any thread.
    pub fn request(&self) -> StopRequest {
        let critical = {
            let mut state = self.state();
            state.requested = true;
            state.critical
        };
        self.inner.requested.send_replace(true);
        if critical {
            StopRequest::Deferred
        } else {
            StopRequest::Stopping
        }
    }

    /// Whether a stop was requested.
    pub fn is_requested(&self) -> bool {
        self.state().requested
    }

    /// Whether the workflow is in its critical step, where a stop is deferred.
    pub fn is_deferring(&self) -> bool {
        self.state().critical
    }

    /// Resolves once a stop is requested.
    pub(crate) async fn requested(&self) {
        let mut rx = self.inner.requested.subscribe();
        // The sender lives in `self`: wait_for cannot see it closed.
        let _ = rx.wait_for(|requested| *requested).await;
    }

    /// Enter the critical step, unless a stop was requested first. Leaving it is dropping
    /// the guard.
    pub(crate) fn enter_critical(&self) -> Option<Critical<'_>> {
        let mut state = self.state();
        if state.requested {
            return None;
        }
        state.critical = true;
        Some(Critical { interrupt: self })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is two flags, always consistent: a panic elsewhere cannot corrupt it.
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The critical step, while it lasts (see [`Interrupt::enter_critical`]).
pub(crate) struct Critical<'a> {
    interrupt: &'a Interrupt,
}

impl Drop for Critical<'_> {
    fn drop(&mut self) {
        self.interrupt.state().critical = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_outside_the_critical_step_is_immediate_and_keeps_it_from_starting() {
        let interrupt = Interrupt::new();
        assert!(!interrupt.is_requested());
        assert_eq!(interrupt.clone().request(), StopRequest::Stopping);
        assert!(interrupt.is_requested(), "clones share the request");
        assert!(interrupt.enter_critical().is_none());
        assert!(!interrupt.is_deferring());
    }

    #[test]
    fn a_stop_inside_the_critical_step_is_deferred_until_it_ends() {
        let interrupt = Interrupt::new();
        let critical = interrupt.enter_critical().expect("no stop yet");
        assert!(interrupt.is_deferring());
        assert_eq!(interrupt.request(), StopRequest::Deferred);
        assert_eq!(interrupt.request(), StopRequest::Deferred, "and again");
        drop(critical);
        assert!(!interrupt.is_deferring());
        assert!(interrupt.is_requested());
        assert_eq!(interrupt.request(), StopRequest::Stopping);
    }

    #[tokio::test]
    async fn waiting_for_a_stop_ends_when_one_is_requested() {
        let interrupt = Interrupt::new();
        let asker = interrupt.clone();
        let wait = tokio::spawn(async move { interrupt.requested().await });
        tokio::task::yield_now().await;
        assert!(!wait.is_finished());
        asker.request();
        tokio::time::timeout(std::time::Duration::from_secs(5), wait)
            .await
            .expect("woken")
            .expect("joined");
        // Already requested: returns at once.
        asker.requested().await;
    }
}
