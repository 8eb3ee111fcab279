//! The session model: one logged-in session held for the login, and a bounded pool of worker
//! sessions so that concurrent operations never share a session (`CKR_OPERATION_ACTIVE`).
//!
//! A worker session that dies (handle invalid, closed, login lost, device error) is discarded,
//! the login is restored on a fresh login session, and the operation runs once more on a new
//! session; the operation itself is told it is a retry so it can look its handles up again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::slot::{Limit, Slot, TokenInfo};
use cryptoki::types::AuthPin;

use super::error::{Error, Fault, Result};
use super::module::Module;
use super::pin::PinSource;
use super::uri::TokenSelector;

/// How long a caller waits for a free worker session before giving up.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long to wait for a pooled session after the token said `CKR_SESSION_COUNT`.
const SESSION_COUNT_WAIT: Duration = Duration::from_secs(1);

/// Tunables of a token connection.
#[derive(Debug, Clone)]
pub struct TokenOptions {
    /// Upper bound on worker sessions (further capped by the token's own limit).
    pub max_sessions: usize,
    /// `CKA_PRIVATE` of generated public keys (nShield wants `false`).
    pub public_key_private: bool,
    /// How long an operation keeps waiting for a token that went away before the token is
    /// reported unusable.
    pub recovery_budget: Duration,
    /// Length of the random `CKA_ID` of generated keys (YubiHSM wants 2: its object id).
    pub key_id_bytes: usize,
}

impl Default for TokenOptions {
    fn default() -> Self {
        Self {
            max_sessions: 8,
            public_key_private: true,
            recovery_budget: Duration::from_secs(60),
            key_id_bytes: 16,
        }
    }
}

/// Backoff while the token is away: 0.5 s growing by half each time, at most 30 s.
const BACKOFF_START: Duration = Duration::from_millis(500);
const BACKOFF_CAP: Duration = Duration::from_secs(30);
/// Consecutive token faults after which the module is re-initialized to flush its caches.
const REINIT_AFTER: u32 = 3;

struct Pool {
    idle: Vec<Session>,
    open: usize,
}

/// A logged-in token with its session pool. `Send + Sync`; share it in an `Arc`.
pub struct Token {
    module: Arc<Module>,
    selector: TokenSelector,
    // Re-discovered by label/serial when the token comes back (its slot id may change).
    slot: Mutex<Slot>,
    label: String,
    serial: String,
    pin: Option<AuthPin>,
    pin_rejected: AtomicBool,
    login: Mutex<Option<Session>>,
    pool: Mutex<Pool>,
    freed: Condvar,
    max_sessions: usize,
    options: TokenOptions,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("module", &self.module.path())
            .field("label", &self.label)
            .field("serial", &self.serial)
            .field("pin", &self.pin.as_ref().map(|_| "<redacted>"))
            .field("max_sessions", &self.max_sessions)
            .finish()
    }
}

impl Token {
    /// Held while creating objects (keys, data objects): one creation at a time per module.
    pub(super) fn creating(&self) -> MutexGuard<'_, ()> {
        self.module.creating()
    }

    /// Select the token, read the PIN (only if the token requires login) and log in.
    pub fn open(
        module: Arc<Module>,
        selector: &TokenSelector,
        pin_source: &PinSource,
        options: TokenOptions,
    ) -> Result<Arc<Token>> {
        let (slot, info) = module.find_slot(selector)?;
        let label = info.label().trim_end().to_owned();
        let pin = if info.login_required() {
            refuse_bad_pin_state(&label, &info)?;
            Some(pin_source.read(&format!("{label:?}"))?)
        } else {
            None
        };
        let token_cap = match info.max_rw_session_count() {
            // One session is the login session.
            Limit::Max(n) => usize::try_from(n.saturating_sub(1)).unwrap_or(usize::MAX),
            Limit::Unavailable | Limit::Infinite => usize::MAX,
        };
        let max_sessions = options.max_sessions.min(token_cap).max(1);
        let token = Token {
            serial: info.serial_number().trim().to_owned(),
            module,
            selector: selector.clone(),
            slot: Mutex::new(slot),
            label,
            pin,
            pin_rejected: AtomicBool::new(false),
            login: Mutex::new(None),
            pool: Mutex::new(Pool {
                idle: Vec::new(),
                open: 0,
            }),
            freed: Condvar::new(),
            max_sessions,
            options,
        };
        token.restore_login()?;
        Ok(Arc::new(token))
    }

    /// Token label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Token serial.
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// The module this token lives in.
    pub fn module(&self) -> &Arc<Module> {
        &self.module
    }

    /// The slot (valid for this process only; may change when the token is re-plugged).
    pub fn slot(&self) -> Slot {
        // A poisoned lock still holds a valid slot id.
        match self.slot.lock() {
            Ok(s) => *s,
            Err(p) => *p.into_inner(),
        }
    }

    /// Options in force.
    pub fn options(&self) -> &TokenOptions {
        &self.options
    }

    /// Size cap of the worker pool.
    pub fn max_sessions(&self) -> usize {
        self.max_sessions
    }

    /// Worker sessions checked out right now (opened by the pool and not idle).
    pub fn sessions_in_use(&self) -> usize {
        match self.pool.lock() {
            Ok(p) => p.open.saturating_sub(p.idle.len()),
            Err(p) => {
                let p = p.into_inner();
                p.open.saturating_sub(p.idle.len())
            }
        }
    }

    /// Fresh token info (flags, counts).
    pub fn info(&self) -> Result<TokenInfo> {
        self.module
            .ctx()
            .get_token_info(self.slot())
            .map_err(|e| Error::pkcs11("C_GetTokenInfo", e))
    }

    /// Run `op` on a worker session. `op` gets `true` as its second argument when it runs
    /// again after a fault, and must then look its object handles up again.
    ///
    /// Recovery: a session fault (handle invalid, closed, login lost, device
    /// error) gets one retry on a fresh session after the login is restored. A token fault
    /// (not present, removed) is waited out with backoff, re-finding the token by label or
    /// serial and re-initializing the module after repeated failures, until the recovery
    /// budget is spent. `CKR_CRYPTOKI_NOT_INITIALIZED` re-initializes the module and retries
    /// once, without waiting. Wrong or locked PINs and everything else are returned at once.
    pub fn with_session<T>(&self, mut op: impl FnMut(&Session, bool) -> Result<T>) -> Result<T> {
        let mut refresh = false;
        let mut session_retried = false;
        let mut reinitialized = false;
        let mut outage: Option<Outage> = None;
        loop {
            let generation = self.module.generation();
            let err = match self.attempt(&mut op, refresh) {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            refresh = true;
            if err.rv() == Some(RvError::CryptokiNotInitialized) {
                // Another thread re-initializing the module right now, or a module that lost
                // its initialization: re-initialize (once per generation) and retry at once.
                // Still not initialized after that: no wait can help (a module that hands
                // out uninitialized instances), so the error is returned, not waited out.
                if reinitialized {
                    return Err(err);
                }
                reinitialized = true;
                self.module.reinitialize(generation)?;
                match self.rediscover() {
                    Ok(()) => continue,
                    Err(e) if e.rv() == Some(RvError::CryptokiNotInitialized) => return Err(e),
                    Err(_) => {}
                }
            }
            let err = match err.fault() {
                Fault::Permanent => return Err(err),
                Fault::Session if session_retried => return Err(err),
                Fault::Session => {
                    session_retried = true;
                    tracing::warn!(token = %self.label, error = %err, "session fault; reopening and retrying once");
                    match self.restore_login() {
                        Ok(()) => continue,
                        Err(e) if e.fault() == Fault::Token => e,
                        Err(e) => return Err(e),
                    }
                }
                Fault::Token => err,
            };
            let o = outage.get_or_insert_with(Outage::new);
            if o.started.elapsed() >= self.options.recovery_budget {
                return Err(Error::Unusable {
                    token: self.label.clone(),
                    attempts: o.failures + 1,
                    last: Box::new(err),
                });
            }
            tracing::warn!(token = %self.label, error = %err, retry_in = ?o.delay, "token unavailable; waiting for it");
            std::thread::sleep(
                o.delay.min(
                    self.options
                        .recovery_budget
                        .saturating_sub(o.started.elapsed()),
                ),
            );
            o.failures += 1;
            o.delay = (o.delay.mul_f32(1.5)).min(BACKOFF_CAP);
            if o.failures % REINIT_AFTER == 0 {
                let seen = self.module.generation();
                if let Err(e) = self.module.reinitialize(seen) {
                    tracing::warn!(error = %e, "module re-initialization failed");
                }
            }
            match self.rediscover() {
                Ok(()) => session_retried = false,
                Err(e) if e.fault() == Fault::Token || matches!(e, Error::TokenNotFound { .. }) => {
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn attempt<T>(
        &self,
        op: &mut impl FnMut(&Session, bool) -> Result<T>,
        refresh: bool,
    ) -> Result<T> {
        let mut lease = self.checkout()?;
        let outcome = match lease.session.as_ref() {
            Some(session) => op(session, refresh),
            None => Err(Error::Config("worker session lost before use".into())),
        };
        if let Err(e) = &outcome {
            if e.fault() != Fault::Permanent {
                lease.discard();
            }
        }
        outcome
    }

    /// Find the token again by label/serial (its slot may have changed) and log in afresh.
    fn rediscover(&self) -> Result<()> {
        let (slot, _) = self.module.find_slot(&self.selector)?;
        *lock(&self.slot)? = slot;
        lock(&self.pool)?.drain_idle();
        *lock(&self.login)? = None;
        self.restore_login()
    }

    /// Make sure a logged-in session exists; reopen and log in again when it was lost.
    pub fn restore_login(&self) -> Result<()> {
        let mut login = lock(&self.login)?;
        if let Some(s) = login.as_ref() {
            match s.get_session_info() {
                Ok(i)
                    if matches!(
                        i.session_state(),
                        SessionState::RwUser | SessionState::RoUser
                    ) =>
                {
                    return Ok(());
                }
                Ok(_) if self.pin.is_none() => return Ok(()),
                _ => {}
            }
            // The login session is dead or logged out: idle workers are suspect too.
            lock(&self.pool)?.drain_idle();
        }
        *login = None;
        let session = self
            .module
            .ctx()
            .open_rw_session(self.slot())
            .map_err(|e| Error::pkcs11(format!("C_OpenSession on token {:?}", self.label), e))?;
        self.login_on(&session)?;
        *login = Some(session);
        Ok(())
    }

    fn login_on(&self, session: &Session) -> Result<()> {
        let Some(pin) = &self.pin else {
            return Ok(());
        };
        if self.pin_rejected.load(Ordering::SeqCst) {
            // Never present a PIN the token already rejected.
            return Err(Error::PinIncorrect {
                token: self.label.clone(),
            });
        }
        if let Ok(i) = session.get_session_info() {
            if matches!(
                i.session_state(),
                SessionState::RwUser | SessionState::RoUser
            ) {
                return Ok(());
            }
        }
        refuse_bad_pin_state(&self.label, &self.info()?)?;
        match session.login(UserType::User, Some(pin)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
            Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => {
                self.pin_rejected.store(true, Ordering::SeqCst);
                Err(Error::PinIncorrect {
                    token: self.label.clone(),
                })
            }
            Err(CkError::Pkcs11(RvError::PinLocked, _)) => Err(Error::PinState {
                token: self.label.clone(),
                state: "the user PIN is locked",
            }),
            Err(e) => Err(Error::pkcs11(
                format!("C_Login on token {:?}", self.label),
                e,
            )),
        }
    }

    fn checkout(&self) -> Result<Lease<'_>> {
        let mut pool = lock(&self.pool)?;
        loop {
            if let Some(s) = pool.idle.pop() {
                return Ok(Lease::new(self, s));
            }
            if pool.open < self.max_sessions {
                pool.open += 1;
                drop(pool);
                match self.module.ctx().open_rw_session(self.slot()) {
                    Ok(s) => return Ok(Lease::new(self, s)),
                    // The token holds fewer sessions than it advertised (or others use some):
                    // wait for one of ours to come back instead of failing.
                    Err(CkError::Pkcs11(RvError::SessionCount, _)) => {
                        pool = lock(&self.pool)?;
                        pool.open = pool.open.saturating_sub(1);
                        if pool.open == 0 {
                            return Err(Error::Config(format!(
                                "token {:?} refuses to open a session (CKR_SESSION_COUNT); dfns-hsm needs two: one holding the login and one to work in. Close other applications' sessions or raise the token's limit",
                                self.label
                            )));
                        }
                        let (guard, _) = self
                            .freed
                            .wait_timeout(pool, SESSION_COUNT_WAIT)
                            .map_err(|_| poisoned())?;
                        pool = guard;
                        continue;
                    }
                    Err(e) => {
                        self.release_slot();
                        return Err(Error::pkcs11(
                            format!("C_OpenSession on token {:?}", self.label),
                            e,
                        ));
                    }
                }
            }
            let (guard, timeout) = self
                .freed
                .wait_timeout(pool, CHECKOUT_TIMEOUT)
                .map_err(|_| poisoned())?;
            pool = guard;
            if timeout.timed_out() && pool.idle.is_empty() && pool.open >= self.max_sessions {
                return Err(Error::Config(format!(
                    "no free session on token {:?} after {}s ({} in use); raise max_sessions or reduce concurrency",
                    self.label,
                    CHECKOUT_TIMEOUT.as_secs(),
                    pool.open
                )));
            }
        }
    }

    fn release_slot(&self) {
        if let Ok(mut pool) = self.pool.lock() {
            pool.open = pool.open.saturating_sub(1);
        }
        self.freed.notify_one();
    }
}

impl Pool {
    fn drain_idle(&mut self) {
        self.open = self.open.saturating_sub(self.idle.len());
        // Dropping closes them; errors from already-dead handles are ignored by cryptoki.
        self.idle.clear();
    }
}

/// A worker session on loan; returns to the pool on drop unless discarded.
struct Lease<'a> {
    token: &'a Token,
    session: Option<Session>,
}

impl<'a> Lease<'a> {
    fn new(token: &'a Token, session: Session) -> Self {
        Self {
            token,
            session: Some(session),
        }
    }

    fn discard(&mut self) {
        if self.session.take().is_some() {
            self.token.release_slot();
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(s) = self.session.take() {
            match self.token.pool.lock() {
                Ok(mut pool) => pool.idle.push(s),
                Err(_) => return,
            }
            self.token.freed.notify_one();
        }
    }
}

/// Progress through one outage of the token.
struct Outage {
    started: std::time::Instant,
    delay: Duration,
    failures: u32,
}

impl Outage {
    fn new() -> Self {
        Self {
            started: std::time::Instant::now(),
            delay: BACKOFF_START,
            failures: 0,
        }
    }
}

fn refuse_bad_pin_state(label: &str, info: &TokenInfo) -> Result<()> {
    let state = if info.user_pin_locked() {
        "the user PIN is locked"
    } else if info.user_pin_final_try() {
        "the user PIN is on its final try (one more wrong PIN locks it)"
    } else if info.user_pin_to_be_changed() {
        "the user PIN must be changed before use"
    } else if !info.user_pin_initialized() {
        "no user PIN is set on this token"
    } else {
        return Ok(());
    };
    Err(Error::PinState {
        token: label.to_owned(),
        state,
    })
}

fn poisoned() -> Error {
    Error::Config("session pool lock poisoned by an earlier panic".into())
}

fn lock<T>(m: &Mutex<T>) -> Result<MutexGuard<'_, T>> {
    m.lock().map_err(|_| poisoned())
}
