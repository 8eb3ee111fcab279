//! Open sessions as the application sees them: the session cap, idle expiry, and closing
//! sessions underneath the application (dropped connections).
//!
//! A session is only ever closed underneath while no call is running on it: a session busy in
//! another thread is marked doomed and closed when that call returns.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use cryptoki_sys::*;

use crate::real::Real;
use crate::stats::{stats, Closure};

struct Entry {
    slot: CK_SLOT_ID,
    last_used: Instant,
    in_flight: u32,
    doomed: Option<Closure>,
}

/// The sessions opened through this module.
pub struct Sessions {
    real: &'static Real,
    max: Option<u64>,
    idle: Option<Duration>,
    map: Mutex<HashMap<CK_SESSION_HANDLE, Entry>>,
}

/// A call in progress on a session; ends the call's bookkeeping when dropped.
pub struct Lease<'a> {
    sessions: &'a Sessions,
    handle: CK_SESSION_HANDLE,
}

impl Sessions {
    /// Track sessions of `real` with an optional cap and idle timeout.
    pub fn new(real: &'static Real, max: Option<u64>, idle: Option<Duration>) -> Sessions {
        Sessions {
            real,
            max,
            idle,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// The configured cap, if any.
    pub fn max(&self) -> Option<u64> {
        self.max
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<CK_SESSION_HANDLE, Entry>> {
        // A poisoned map is still a consistent map: every update is a single insert/remove.
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Close every session idle longer than the timeout (call before each forwarded call).
    pub fn sweep(&self) {
        let Some(idle) = self.idle else { return };
        let now = Instant::now();
        let mut map = self.lock();
        let expired: Vec<CK_SESSION_HANDLE> = map
            .iter()
            .filter(|(_, e)| e.in_flight == 0 && now.duration_since(e.last_used) > idle)
            .map(|(h, _)| *h)
            .collect();
        for h in expired {
            map.remove(&h);
            self.real_close(h, Closure::Idle);
        }
    }

    /// Mark a call as running on `handle` (unknown handles are passed through untracked).
    pub fn enter(&self, handle: CK_SESSION_HANDLE) -> Lease<'_> {
        if let Some(e) = self.lock().get_mut(&handle) {
            e.in_flight += 1;
            e.last_used = Instant::now();
        }
        Lease {
            sessions: self,
            handle,
        }
    }

    /// `C_OpenSession` under the cap: `open` runs the real call and returns the new handle.
    /// Returns `None` when the cap refuses the session.
    pub fn open(
        &self,
        slot: CK_SLOT_ID,
        open: impl FnOnce() -> (CK_RV, Option<CK_SESSION_HANDLE>),
    ) -> Option<CK_RV> {
        let mut map = self.lock();
        if let Some(max) = self.max {
            if map.len() as u64 >= max {
                return None;
            }
        }
        // The lock is held across the real call so two threads cannot both take the last place.
        let (rv, handle) = open();
        if let (CKR_OK, Some(h)) = (rv, handle) {
            map.insert(
                h,
                Entry {
                    slot,
                    last_used: Instant::now(),
                    in_flight: 0,
                    doomed: None,
                },
            );
            stats().session_opened(map.len() as u64);
        }
        Some(rv)
    }

    /// The application closed `handle`.
    pub fn forget(&self, handle: CK_SESSION_HANDLE) {
        let mut map = self.lock();
        map.remove(&handle);
        stats().sessions_now(map.len() as u64);
    }

    /// The application closed every session of `slot`.
    pub fn forget_slot(&self, slot: CK_SLOT_ID) {
        let mut map = self.lock();
        map.retain(|_, e| e.slot != slot);
        stats().sessions_now(map.len() as u64);
    }

    /// Close `handle` in the real module now (the caller is the call running on it).
    pub fn close_underneath(&self, handle: CK_SESSION_HANDLE, why: Closure) {
        let mut map = self.lock();
        if map.remove(&handle).is_some() {
            self.real_close(handle, why);
            stats().sessions_now(map.len() as u64);
        }
    }

    /// Close every session in the real module: now if idle, when its call returns if busy.
    pub fn close_all_underneath(&self, why: Closure) {
        let mut map = self.lock();
        let idle: Vec<CK_SESSION_HANDLE> = map
            .iter_mut()
            .filter_map(|(h, e)| {
                if e.in_flight == 0 {
                    Some(*h)
                } else {
                    e.doomed = Some(why);
                    None
                }
            })
            .collect();
        for h in idle {
            map.remove(&h);
            self.real_close(h, why);
        }
        stats().sessions_now(map.len() as u64);
    }

    /// Forget everything (after `C_Finalize`, the real module closed them all).
    pub fn clear(&self) {
        self.lock().clear();
        stats().sessions_now(0);
    }

    fn real_close(&self, handle: CK_SESSION_HANDLE, why: Closure) {
        if let Some(close) = self.real.list.C_CloseSession {
            // SAFETY: forwarding C_CloseSession to the real module with a handle it issued; an
            // already-invalid handle only yields an error code.
            let _ = unsafe { close(handle) };
        }
        stats().session_closed(why);
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let mut map = self.sessions.lock();
        let doomed = match map.get_mut(&self.handle) {
            Some(e) => {
                e.in_flight = e.in_flight.saturating_sub(1);
                e.last_used = Instant::now();
                e.doomed.filter(|_| e.in_flight == 0)
            }
            None => None,
        };
        if let Some(why) = doomed {
            map.remove(&self.handle);
            self.sessions.real_close(self.handle, why);
            stats().sessions_now(map.len() as u64);
        }
    }
}
