//! Per-process counters, written as JSON to `FAULTY_STATS_FILE` after every call.
//!
//! The file is replaced atomically (write to a temporary file, then rename), so a test may read
//! it at any moment while the process runs, and after it exits. Counters survive
//! `C_Finalize`/`C_Initialize` within one process.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use cryptoki_sys::CK_RV;
use serde_json::{json, Map, Value};

use crate::ckr;
use crate::functions::Func;

const N: usize = Func::ALL.len();

/// Functions always present in `calls`, even at zero, so tests can read them unconditionally.
const ALWAYS: &[Func] = &[
    Func::Initialize,
    Func::Finalize,
    Func::Login,
    Func::Logout,
    Func::OpenSession,
    Func::CloseSession,
    Func::SignInit,
    Func::Sign,
];

/// Why a session was closed underneath the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closure {
    /// A fault rule with the `close` effect.
    Fault,
    /// `FAULTY_IDLE_TIMEOUT_MS` expired.
    Idle,
    /// The token went absent.
    Absence,
    /// The `drop-sessions` control file.
    Control,
}

/// The counters.
pub struct Stats {
    calls: [AtomicU64; N],
    ops: [AtomicU64; N],
    faults: [AtomicU64; N],
    faults_by_rv: Mutex<BTreeMap<CK_RV, u64>>,
    initialized: AtomicBool,
    sessions_open: AtomicU64,
    sessions_peak: AtomicU64,
    closed: [AtomicU64; 4],
    token_absent: AtomicBool,
    absences: AtomicU64,
    ec_points_unwrapped: AtomicU64,
    file: Mutex<Option<PathBuf>>,
    write_failed: AtomicBool,
}

static STATS: Stats = Stats {
    calls: [const { AtomicU64::new(0) }; N],
    ops: [const { AtomicU64::new(0) }; N],
    faults: [const { AtomicU64::new(0) }; N],
    faults_by_rv: Mutex::new(BTreeMap::new()),
    initialized: AtomicBool::new(false),
    sessions_open: AtomicU64::new(0),
    sessions_peak: AtomicU64::new(0),
    closed: [const { AtomicU64::new(0) }; 4],
    token_absent: AtomicBool::new(false),
    absences: AtomicU64::new(0),
    ec_points_unwrapped: AtomicU64::new(0),
    file: Mutex::new(None),
    write_failed: AtomicBool::new(false),
};

/// The process's counters.
pub fn stats() -> &'static Stats {
    &STATS
}

impl Stats {
    /// Count a call, and as an operation unless it is a length query.
    pub fn call(&self, func: Func, length_query: bool) {
        self.calls[func.index()].fetch_add(1, Ordering::Relaxed);
        if !length_query {
            self.ops[func.index()].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Count a return value the module made up instead of the real module's.
    pub fn fault(&self, func: Func, rv: CK_RV) {
        self.faults[func.index()].fetch_add(1, Ordering::Relaxed);
        let mut by_rv = self.faults_by_rv.lock().unwrap_or_else(|e| e.into_inner());
        *by_rv.entry(rv).or_default() += 1;
    }

    /// Record whether the module is initialized.
    pub fn set_initialized(&self, yes: bool) {
        self.initialized.store(yes, Ordering::Relaxed);
    }

    /// A session was opened; `open` sessions exist now.
    pub fn session_opened(&self, open: u64) {
        self.sessions_now(open);
        self.sessions_peak.fetch_max(open, Ordering::Relaxed);
    }

    /// `open` sessions exist now.
    pub fn sessions_now(&self, open: u64) {
        self.sessions_open.store(open, Ordering::Relaxed);
    }

    /// A session was closed underneath the application.
    pub fn session_closed(&self, why: Closure) {
        self.closed[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// The token went away (`true`) or came back.
    pub fn token_absent(&self, absent: bool) {
        if absent && !self.token_absent.swap(true, Ordering::Relaxed) {
            self.absences.fetch_add(1, Ordering::Relaxed);
        } else if !absent {
            self.token_absent.store(false, Ordering::Relaxed);
        }
    }

    /// A `CKA_EC_POINT` value was handed out without its DER wrapper.
    pub fn ec_point_unwrapped(&self) {
        self.ec_points_unwrapped.fetch_add(1, Ordering::Relaxed);
    }

    /// Where to write (from the latest `C_Initialize`).
    pub fn set_file(&self, path: Option<PathBuf>) {
        *self.file.lock().unwrap_or_else(|e| e.into_inner()) = path;
    }

    /// The counters as the JSON document written to the stats file.
    pub fn snapshot(&self) -> Value {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let per_function = |arr: &[AtomicU64; N], always: &[Func]| {
            let mut m = Map::new();
            for &f in Func::ALL {
                let n = load(&arr[f.index()]);
                if n > 0 || always.contains(&f) {
                    m.insert(f.name().to_owned(), json!(n));
                }
            }
            Value::Object(m)
        };
        let by_rv: Map<String, Value> = self
            .faults_by_rv
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(rv, n)| (ckr::name(*rv), json!(n)))
            .collect();
        let total: u64 = self.faults.iter().map(load).sum();
        json!({
            "pid": std::process::id(),
            "initialized": self.initialized.load(Ordering::Relaxed),
            "calls": per_function(&self.calls, ALWAYS),
            "operations": per_function(&self.ops, &[Func::Sign]),
            "faults": {
                "total": total,
                "by_function": per_function(&self.faults, &[]),
                "by_rv": by_rv,
            },
            "sessions": {
                "open": load(&self.sessions_open),
                "peak": load(&self.sessions_peak),
                "closed_by_fault": load(&self.closed[Closure::Fault as usize]),
                "closed_idle": load(&self.closed[Closure::Idle as usize]),
                "closed_by_absence": load(&self.closed[Closure::Absence as usize]),
                "closed_by_control": load(&self.closed[Closure::Control as usize]),
            },
            "token": {
                "absent": self.token_absent.load(Ordering::Relaxed),
                "absences": load(&self.absences),
            },
            "rewrites": {
                "ec_points_unwrapped": load(&self.ec_points_unwrapped),
            },
        })
    }

    /// Rewrite the stats file, if one is configured. Failures are reported once on stderr.
    pub fn write(&self) {
        let file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let Some(path) = file.as_ref() else { return };
        // Snapshot under the file lock so a later write never carries older numbers.
        let text = format!("{:#}\n", self.snapshot());
        let mut tmp = path.clone().into_os_string();
        tmp.push(format!(".{}.tmp", std::process::id()));
        let result =
            std::fs::write(&tmp, text.as_bytes()).and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = result {
            if !self.write_failed.swap(true, Ordering::Relaxed) {
                eprintln!(
                    "faulty-pkcs11: cannot write stats file {}: {e}",
                    path.display()
                );
            }
        }
    }
}
