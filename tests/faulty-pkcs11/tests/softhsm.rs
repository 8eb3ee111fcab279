//! The module in-process through cryptoki, over a throwaway SoftHSM2 token: the behaviours a
//! one-shot CLI cannot show (idle expiry, a timed absence, control files, the session cap, many
//! threads). The configuration is read at `C_Initialize`, so each case sets its `FAULTY_*`
//! variables, initializes, and finalizes; cases run one at a time.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::slot::{Limit, Slot};
use cryptoki::types::AuthPin;
use serde_json::Value;
use testkit::artifact::faulty_module;
use testkit::{token, TestToken, LABEL};

const P256_OID: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// The kit's token: its `module` is the real module the faulty one forwards to.
type Fixture = TestToken;

/// The token, created once per process, with one P-256 key labelled "k".
fn fixture() -> &'static Fixture {
    static KEY: OnceLock<()> = OnceLock::new();
    let f = token();
    KEY.get_or_init(|| {
        let h = Harness::start(f, &[]);
        let s = h.login();
        s.generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[
                Attribute::Token(true),
                Attribute::EcParams(P256_OID.to_vec()),
                Attribute::Label(b"k".to_vec()),
            ],
            &[
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Sign(true),
                Attribute::Label(b"k".to_vec()),
            ],
        )
        .expect("generate");
        drop(s);
        drop(h);
    });
    f
}

/// One initialized module with a configuration; finalized on drop.
struct Harness {
    ctx: Option<Pkcs11>,
    slot: Slot,
    stats: PathBuf,
    /// Counters right after `C_Initialize` (they are cumulative per process).
    baseline: Value,
    _serial: MutexGuard<'static, ()>,
}

fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

impl Harness {
    fn start(f: &Fixture, faults: &[(&str, &str)]) -> Harness {
        let guard = serial();
        for (k, _) in std::env::vars() {
            if k.starts_with("FAULTY_") {
                std::env::remove_var(k);
            }
        }
        let stats = f.dir.path().join(format!("stats-{}.json", unique()));
        std::env::set_var("FAULTY_PKCS11_MODULE", &f.module);
        std::env::set_var("FAULTY_STATS_FILE", &stats);
        for (k, v) in faults {
            std::env::set_var(k, v);
        }
        let ctx = Pkcs11::new(faulty_module()).expect("load the faulty module");
        ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .expect("C_Initialize");
        let slot = ctx
            .get_slots_with_token()
            .expect("slots")
            .into_iter()
            .find(|s| {
                ctx.get_token_info(*s)
                    .is_ok_and(|i| i.label().trim_end() == LABEL)
            })
            .expect("test token");
        let mut h = Harness {
            ctx: Some(ctx),
            slot,
            stats,
            baseline: Value::Null,
            _serial: guard,
        };
        h.baseline = h.stats();
        h
    }

    /// How much a counter grew since `C_Initialize`.
    fn delta(&self, pointer: &str) -> u64 {
        count(&self.stats(), pointer) - count(&self.baseline, pointer)
    }

    fn ctx(&self) -> &Pkcs11 {
        self.ctx.as_ref().expect("initialized")
    }

    fn session(&self) -> Session {
        self.ctx()
            .open_rw_session(self.slot)
            .expect("C_OpenSession")
    }

    fn login(&self) -> Session {
        let s = self.session();
        s.login(
            UserType::User,
            Some(&AuthPin::new(token().pin.as_str().into())),
        )
        .expect("C_Login");
        s
    }

    fn stats(&self) -> Value {
        let text = std::fs::read_to_string(&self.stats).expect("stats file");
        serde_json::from_str(&text).expect("stats JSON")
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(ctx) = self.ctx.take() {
            let _ = ctx.finalize();
        }
    }
}

fn unique() -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    )
}

fn key(s: &Session) -> ObjectHandle {
    let found = s
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Label(b"k".to_vec()),
        ])
        .expect("find");
    assert_eq!(found.len(), 1);
    found[0]
}

fn sign(s: &Session, k: ObjectHandle) -> Result<Vec<u8>, Error> {
    s.sign(&Mechanism::Ecdsa, k, &[7u8; 32])
}

fn rv<T: std::fmt::Debug>(r: Result<T, Error>) -> RvError {
    match r {
        Err(Error::Pkcs11(rv, _)) => rv,
        other => panic!("expected a PKCS#11 error, got {other:?}"),
    }
}

fn count(stats: &Value, pointer: &str) -> u64 {
    stats.pointer(pointer).and_then(Value::as_u64).unwrap_or(0)
}

#[test]
fn idle_sessions_are_closed_underneath() {
    let f = fixture();
    let h = Harness::start(f, &[("FAULTY_IDLE_TIMEOUT_MS", "150")]);
    let s = h.login();
    let k = key(&s);
    assert_eq!(sign(&s, k).expect("sign").len(), 64);
    std::thread::sleep(Duration::from_millis(250));
    assert_eq!(rv(sign(&s, k)), RvError::SessionHandleInvalid);
    assert_eq!(rv(s.get_session_info()), RvError::SessionHandleInvalid);
    // The application's only session is gone, and its login with it.
    let fresh = h.session();
    assert_eq!(
        fresh.get_session_info().expect("info").session_state(),
        SessionState::RwPublic
    );
    assert_eq!(h.delta("/sessions/closed_idle"), 1);
}

#[test]
fn a_timed_absence_hides_the_token_then_gives_it_back() {
    let f = fixture();
    let h = Harness::start(
        f,
        &[
            ("FAULTY_TOKEN_ABSENT_AFTER", "1"),
            ("FAULTY_TOKEN_ABSENT_FOR_MS", "400"),
        ],
    );
    let s = h.login();
    let k = key(&s);
    sign(&s, k).expect("the first signature");
    // Gone: no slot with a token, no new session, the old session answers TOKEN_NOT_PRESENT.
    assert!(!h
        .ctx()
        .get_slots_with_token()
        .expect("slots")
        .contains(&h.slot));
    assert!(!h
        .ctx()
        .get_slot_info(h.slot)
        .expect("slot info")
        .token_present());
    assert_eq!(
        rv(h.ctx().open_rw_session(h.slot)),
        RvError::TokenNotPresent
    );
    assert_eq!(rv(h.ctx().get_token_info(h.slot)), RvError::TokenNotPresent);
    assert_eq!(rv(sign(&s, k)), RvError::TokenNotPresent);
    assert_eq!(h.stats()["token"]["absent"], true);
    std::thread::sleep(Duration::from_millis(500));
    // Back, but every session of the absence is dead: open, log in, find again.
    assert!(h
        .ctx()
        .get_slots_with_token()
        .expect("slots")
        .contains(&h.slot));
    assert_eq!(rv(sign(&s, k)), RvError::SessionHandleInvalid);
    let s2 = h.login();
    let k2 = key(&s2);
    sign(&s2, k2).expect("signing after the token came back");
    assert_eq!(h.stats()["token"]["absent"], false);
    assert_eq!(h.delta("/token/absences"), 1);
    assert!(h.delta("/sessions/closed_by_absence") >= 1);
}

#[test]
fn control_files_drop_sessions_and_hide_the_token() {
    let f = fixture();
    let control = f.dir.path().join(format!("control-{}", unique()));
    std::fs::create_dir(&control).expect("control dir");
    let control_env = control.to_str().expect("utf-8");
    let h = Harness::start(f, &[("FAULTY_CONTROL_DIR", control_env)]);
    let s = h.login();
    let k = key(&s);
    sign(&s, k).expect("sign");
    std::fs::write(control.join(faulty_pkcs11::DROP_SESSIONS_FILE), b"").expect("touch");
    assert_eq!(rv(sign(&s, k)), RvError::SessionHandleInvalid);
    assert!(!control.join(faulty_pkcs11::DROP_SESSIONS_FILE).exists());

    let s = h.login();
    let k = key(&s);
    std::fs::write(control.join(faulty_pkcs11::ABSENT_FILE), b"").expect("touch");
    assert!(!h
        .ctx()
        .get_slots_with_token()
        .expect("slots")
        .contains(&h.slot));
    std::fs::remove_file(control.join(faulty_pkcs11::ABSENT_FILE)).expect("rm");
    assert!(h
        .ctx()
        .get_slots_with_token()
        .expect("slots")
        .contains(&h.slot));
    assert_eq!(rv(sign(&s, k)), RvError::SessionHandleInvalid);
    assert_eq!(h.delta("/sessions/closed_by_control"), 1);
}

#[test]
fn the_session_cap_is_enforced_and_reported() {
    let f = fixture();
    let h = Harness::start(f, &[("FAULTY_MAX_SESSIONS", "2")]);
    let info = h.ctx().get_token_info(h.slot).expect("token info");
    assert!(matches!(info.max_session_count(), Limit::Max(2)));
    assert!(matches!(info.max_rw_session_count(), Limit::Max(2)));
    let a = h.session();
    let b = h.session();
    assert_eq!(rv(h.ctx().open_rw_session(h.slot)), RvError::SessionCount);
    drop(b);
    let _c = h.session();
    drop(a);
    assert_eq!(h.delta("/faults/by_rv/CKR_SESSION_COUNT"), 1);
    assert!(count(&h.stats(), "/sessions/peak") >= 2);
}

#[test]
fn user_not_logged_in_logs_the_application_out() {
    let f = fixture();
    let h = Harness::start(f, &[("FAULTY_SIGN_NTH", "1:USER_NOT_LOGGED_IN")]);
    let s = h.login();
    let k = key(&s);
    assert_eq!(rv(sign(&s, k)), RvError::UserNotLoggedIn);
    assert_eq!(
        s.get_session_info().expect("info").session_state(),
        SessionState::RwPublic
    );
    s.login(UserType::User, Some(&AuthPin::new(f.pin.as_str().into())))
        .expect("log in again");
    // The operation ended with the fault; private handles died with the login (as on SoftHSM2).
    assert_eq!(rv(sign(&s, k)), RvError::ObjectHandleInvalid);
    let k = key(&s);
    sign(&s, k).expect("sign after logging in again");
}

#[test]
fn a_device_error_on_c_sign_ends_the_operation_and_keeps_the_session() {
    let f = fixture();
    let h = Harness::start(f, &[("FAULTY_SIGN_EVERY", "2:DEVICE_ERROR")]);
    let s = h.login();
    let k = key(&s);
    sign(&s, k).expect("1st");
    assert_eq!(rv(sign(&s, k)), RvError::DeviceError);
    // No half-finished operation: the same session signs again.
    sign(&s, k).expect("3rd on the same session");
}

#[test]
fn many_threads_with_a_fault_rate_count_every_fault() {
    let f = fixture();
    let h = Harness::start(
        f,
        &[
            ("FAULTY_SIGN_RATE", "0.2:DEVICE_ERROR"),
            ("FAULTY_SIGN_LATENCY_MS", "1"),
            ("FAULTY_SEED", "11"),
        ],
    );
    let login = h.login();
    let failed: u64 = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    let s = h.session();
                    let k = key(&s);
                    (0..40).filter(|_| sign(&s, k).is_err()).count() as u64
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().expect("thread")).sum()
    });
    drop(login);
    assert_eq!(h.delta("/operations/C_Sign"), 320);
    assert_eq!(h.delta("/faults/by_function/C_Sign"), failed);
    assert!((30..100).contains(&failed), "{failed} of 320 at rate 0.2");
}

#[test]
fn a_missing_real_module_fails_initialize_with_general_error() {
    let _serial = serial();
    std::env::set_var("FAULTY_PKCS11_MODULE", "/nonexistent/libreal.so");
    let ctx = Pkcs11::new(faulty_module()).expect("load the faulty module");
    let r = ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK));
    assert_eq!(rv(r), RvError::GeneralError);
    std::env::remove_var("FAULTY_PKCS11_MODULE");
}
