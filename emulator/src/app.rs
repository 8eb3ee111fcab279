//! Shared server state: options, the token key, and the organization behind one lock.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::approval::Operation;
use crate::error::ApiError;
use crate::faults::Faults;
use crate::sessions::Sessions;
use crate::state::{self, State};
use crate::token::TokenKey;

/// Handle passed to every handler.
pub type AppState = Arc<App>;

/// Options that shape request handling (a subset of the command line).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where `state.json` lives.
    pub state_dir: PathBuf,
    /// Challenge lifetime, milliseconds.
    pub challenge_ttl_ms: u64,
    /// User-action token lifetime, milliseconds.
    pub user_action_ttl_ms: u64,
    /// Overrides `daysValid` for new service-account tokens, seconds.
    pub token_ttl_override_secs: Option<u64>,
    /// `daysValid` when a create request omits it.
    pub default_days_valid: u64,
    /// Operations that answer 202 pending approval.
    pub approval_required: Vec<Operation>,
}

/// The running emulator.
pub struct App {
    /// Request-handling options.
    pub settings: Settings,
    /// Signs and verifies every token.
    pub key: TokenKey,
    /// Injected faults, their counters and the journal of committed mutations.
    pub faults: Faults,
    inner: Mutex<Inner>,
}

/// Mutable state, guarded by [`App::lock`]. Never held across an `.await`.
pub struct Inner {
    /// Persisted organization.
    pub state: State,
    /// In-memory challenges and user-action tokens.
    pub sessions: Sessions,
}

impl App {
    /// Assemble the app from loaded state.
    pub fn new(settings: Settings, key: TokenKey, state: State, faults: Faults) -> Self {
        Self {
            settings,
            key,
            faults,
            inner: Mutex::new(Inner {
                state,
                sessions: Sessions::default(),
            }),
        }
    }

    /// Lock the state. A poisoned lock is recovered: every mutation persists before it returns,
    /// so the in-memory state is never ahead of a consistent snapshot in a harmful way.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Write the organization to `DIR/state.json`.
    pub fn persist(&self, state: &State) -> Result<(), ApiError> {
        state::save(&self.settings.state_dir, state).map_err(ApiError::internal)
    }

    /// Whether `op` is configured to need approval.
    pub fn needs_approval(&self, op: Operation) -> bool {
        self.settings.approval_required.contains(&op)
    }
}
