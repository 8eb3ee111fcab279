//! The module between `C_Initialize` and `C_Finalize`, and the path every call takes through it:
//! count, sleep, token presence, idle sessions, fault rules, then the real module.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use cryptoki_sys::*;

use crate::absence::Absence;
use crate::config::Config;
use crate::faults::{Effect, Faults, Rule};
use crate::functions::{Func, Scope};
use crate::real::Real;
use crate::sessions::Sessions;
use crate::stats::{stats, Closure};

/// The initialized module.
pub struct Active {
    /// Its configuration.
    pub config: Config,
    /// The real module.
    pub real: &'static Real,
    /// Fault rules.
    pub faults: Faults,
    /// Session tracking.
    pub sessions: Sessions,
    /// Token presence.
    pub absence: Absence,
    /// Whether our `C_Initialize` initialized the real module (so `C_Finalize` finalizes it).
    pub owns_real_init: bool,
    /// Operations per function since this `C_Initialize` (what rules count).
    ops: [AtomicU64; Func::ALL.len()],
}

static ACTIVE: RwLock<Option<Arc<Active>>> = RwLock::new(None);

/// The module state, when initialized.
pub fn active() -> Option<Arc<Active>> {
    ACTIVE.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Install (or remove, with `None`) the module state; returns the previous one.
pub fn replace_active(next: Option<Arc<Active>>) -> Option<Arc<Active>> {
    let mut slot = ACTIVE.write().unwrap_or_else(|e| e.into_inner());
    std::mem::replace(&mut *slot, next)
}

impl Active {
    /// Arm `config` over `real`.
    pub fn new(config: Config, real: &'static Real, owns_real_init: bool) -> Active {
        Active {
            faults: Faults::new(config.rules.clone(), config.seed),
            sessions: Sessions::new(real, config.max_sessions, config.idle_timeout),
            absence: Absence::new(
                config.absent_after,
                config.absent_for,
                config.control_dir.clone(),
            ),
            config,
            real,
            owns_real_init,
            ops: [const { AtomicU64::new(0) }; Func::ALL.len()],
        }
    }

    /// The real module's function list.
    pub fn list(&self) -> &CK_FUNCTION_LIST {
        &self.real.list
    }

    fn log(&self, what: std::fmt::Arguments<'_>) {
        if self.config.log {
            eprintln!("faulty-pkcs11[{}]: {what}", std::process::id());
        }
    }

    fn poll_token(&self) -> bool {
        let p = self.absence.poll();
        if p.went_away {
            stats().token_absent(true);
            self.log(format_args!("token absent"));
            if !self.config.absent_keeps_sessions {
                self.sessions.close_all_underneath(Closure::Absence);
            }
        }
        if p.came_back {
            stats().token_absent(false);
            self.log(format_args!("token present again"));
        }
        if p.drop_sessions {
            self.log(format_args!("dropping every session (control file)"));
            self.sessions.close_all_underneath(Closure::Control);
        }
        p.absent
    }

    fn inject(
        &self,
        rule: &Rule,
        scope: Scope,
        n: u64,
        body: impl FnOnce(&Active) -> CK_RV,
    ) -> CK_RV {
        stats().fault(rule.func, rule.rv);
        self.log(format_args!(
            "{} #{n}: {} ({:?}) by {}",
            rule.func.name(),
            crate::ckr::name(rule.rv),
            rule.effect,
            rule.name
        ));
        match (rule.effect, scope) {
            (Effect::Close, Scope::Session(h)) => self.sessions.close_underneath(h, Closure::Fault),
            (Effect::Logout, Scope::Session(h)) => {
                if rule.func.ends_operation() {
                    // A failed C_Sign still ends the signing operation.
                    let _ = body(self);
                }
                if let Some(logout) = self.real.list.C_Logout {
                    // SAFETY: forwarding C_Logout to the real module with the caller's handle.
                    let _ = unsafe { logout(h) };
                }
            }
            (Effect::Finish, _) => {
                let _ = body(self);
            }
            _ => {}
        }
        rule.rv
    }

    fn run(
        &self,
        func: Func,
        scope: Scope,
        length_query: bool,
        body: impl FnOnce(&Active) -> CK_RV,
    ) -> CK_RV {
        let op =
            (!length_query).then(|| self.ops[func.index()].fetch_add(1, Ordering::Relaxed) + 1);
        let absent = self.poll_token();
        self.sessions.sweep();
        if absent && !matches!(func, Func::GetSlotInfo | Func::CloseSession) {
            let rv = match scope {
                Scope::General => None,
                Scope::Slot(_) => Some(CKR_TOKEN_NOT_PRESENT),
                Scope::Session(_) => Some(self.config.absent_rv),
            };
            if let Some(rv) = rv {
                stats().fault(func, rv);
                return rv;
            }
        }
        let _lease = match scope {
            Scope::Session(h) => Some(self.sessions.enter(h)),
            _ => None,
        };
        // The session counts as in use while the "device" takes its time.
        let delay = self.config.latency_of(func);
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        let rv = match op.and_then(|n| self.faults.check(func, n).map(|r| (n, r))) {
            Some((n, rule)) => self.inject(rule, scope, n, body),
            None => body(self),
        };
        if let (Func::Sign, Some(n)) = (func, op) {
            self.absence.signed(n);
        }
        rv
    }
}

/// Run one call: count it, apply the configured behaviour, forward through `body`, and rewrite
/// the stats file. `length_query` marks calls that only ask for an output size.
pub fn dispatch(
    func: Func,
    scope: Scope,
    length_query: bool,
    body: impl FnOnce(&Active) -> CK_RV,
) -> CK_RV {
    stats().call(func, length_query);
    let rv = match active() {
        Some(a) => a.run(func, scope, length_query, body),
        None => CKR_CRYPTOKI_NOT_INITIALIZED,
    };
    stats().write();
    rv
}

/// Run `f`, turning a panic into `CKR_GENERAL_ERROR`: a panic must never unwind into C.
pub fn guard(f: impl FnOnce() -> CK_RV) -> CK_RV {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        eprintln!("faulty-pkcs11: internal error (panic); returning CKR_GENERAL_ERROR");
        CKR_GENERAL_ERROR
    })
}
