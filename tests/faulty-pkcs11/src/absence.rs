//! The token going away and coming back: after the Nth `C_Sign` for a while
//! (`FAULTY_TOKEN_ABSENT_AFTER` + `FAULTY_TOKEN_ABSENT_FOR_MS`), or while the control file
//! `absent` exists in `FAULTY_CONTROL_DIR`. The control file `drop-sessions` makes the module
//! close every session underneath once, then delete the file.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Name of the control file that keeps the token absent while it exists.
pub const ABSENT_FILE: &str = "absent";
/// Name of the control file that drops every session once.
pub const DROP_SESSIONS_FILE: &str = "drop-sessions";

/// Whether the token is there, and the moments it changes.
#[derive(Debug)]
pub struct Absence {
    after: Option<u64>,
    duration: Duration,
    control_dir: Option<PathBuf>,
    until: Mutex<Option<Instant>>,
    absent: AtomicBool,
}

/// What [`Absence::poll`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Poll {
    /// The token is away now.
    pub absent: bool,
    /// It was present at the previous poll.
    pub went_away: bool,
    /// It was away at the previous poll.
    pub came_back: bool,
    /// The `drop-sessions` control file was found (and removed).
    pub drop_sessions: bool,
}

impl Absence {
    /// Absent for `duration` after `after` signatures; also driven by files in `control_dir`.
    pub fn new(after: Option<u64>, duration: Duration, control_dir: Option<PathBuf>) -> Absence {
        Absence {
            after,
            duration,
            control_dir,
            until: Mutex::new(None),
            absent: AtomicBool::new(false),
        }
    }

    /// `C_Sign` operation number `n` has run.
    pub fn signed(&self, n: u64) {
        if self.after == Some(n) {
            let mut until = self.until.lock().unwrap_or_else(|e| e.into_inner());
            *until = Some(Instant::now() + self.duration);
        }
    }

    /// Look at the clock and the control files (before every call).
    pub fn poll(&self) -> Poll {
        let timed = self
            .until
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|t| Instant::now() < t);
        let controlled = self
            .control_dir
            .as_ref()
            .is_some_and(|d| d.join(ABSENT_FILE).exists());
        let drop_sessions = self.control_dir.as_ref().is_some_and(|d| {
            // Only the thread whose remove succeeds acts on it.
            std::fs::remove_file(d.join(DROP_SESSIONS_FILE)).is_ok()
        });
        let absent = timed || controlled;
        let before = self.absent.swap(absent, Ordering::SeqCst);
        Poll {
            absent,
            went_away: absent && !before,
            came_back: !absent && before,
            drop_sessions,
        }
    }

    /// The state seen by the latest poll.
    pub fn is_absent(&self) -> bool {
        self.absent.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_for_a_while_after_the_nth_signature() {
        let a = Absence::new(Some(2), Duration::from_millis(80), None);
        a.signed(1);
        assert!(!a.poll().absent);
        a.signed(2);
        let p = a.poll();
        assert!(p.absent && p.went_away);
        let p = a.poll();
        assert!(p.absent && !p.went_away);
        std::thread::sleep(Duration::from_millis(100));
        let p = a.poll();
        assert!(!p.absent && p.came_back);
        a.signed(3);
        assert!(!a.poll().absent);
    }

    #[test]
    fn control_files() {
        let dir = std::env::temp_dir().join(format!("faulty-absence-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let a = Absence::new(None, Duration::ZERO, Some(dir.clone()));
        assert!(!a.poll().absent);
        std::fs::write(dir.join(ABSENT_FILE), b"").expect("touch");
        assert!(a.poll().went_away);
        std::fs::remove_file(dir.join(ABSENT_FILE)).expect("rm");
        assert!(a.poll().came_back);
        std::fs::write(dir.join(DROP_SESSIONS_FILE), b"").expect("touch");
        assert!(a.poll().drop_sessions);
        assert!(!a.poll().drop_sessions);
        assert!(!dir.join(DROP_SESSIONS_FILE).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
