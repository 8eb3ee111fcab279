//! The `dfns-hsm` binary through the fault-injecting PKCS#11 module (`tests/faulty-pkcs11`) over
//! the real SoftHSM2 token: pass-through, a wrong PIN, sessions dropped and device errors during
//! signing (the signer's one retry), EC points presented raw, a session cap, the token vanishing.
//!
//! PKCS#11 modules are process-global, so every case runs the CLI as a child process with its
//! own `FAULTY_*` settings and its own stats file. The module is the workspace's cdylib, built
//! by `cargo build --workspace` (scripts/test.sh does it before the tests).

use std::path::PathBuf;
use std::process::Command;
use std::sync::MutexGuard;
use std::time::{Duration, Instant};

use dfns_hsm::hsm::Algorithm;
use serde_json::Value;
use testkit::artifact::faulty_module;
use testkit::verify::assert_first_factor_verifies;
use testkit::{run, serial, token, unique_label, TestToken};

/// The control file that keeps the token absent (`faulty_pkcs11::ABSENT_FILE`).
const ABSENT_FILE: &str = "absent";

/// One test case: the CLI through the faulty module, with a stats file of its own.
struct Case {
    token: &'static TestToken,
    stats: PathBuf,
    _turn: MutexGuard<'static, ()>,
}

impl Case {
    fn new(name: &str) -> Case {
        let t = token();
        Case {
            token: t,
            stats: t.path().join(format!("stats-{}.json", unique_label(name))),
            // SoftHSM2's file store is not safe for several processes at once.
            _turn: serial(),
        }
    }

    /// `dfns-hsm` with the faulty module over SoftHSM2 and the given `FAULTY_*` settings.
    fn cli(&self, faults: &[(&str, &str)]) -> Command {
        let mut c = self.token.cli();
        c.env("DFNS_HSM_MODULE", faulty_module())
            .env("FAULTY_PKCS11_MODULE", &self.token.module)
            .env("FAULTY_STATS_FILE", &self.stats);
        for (k, v) in faults {
            c.env(k, v);
        }
        c
    }

    /// The counters written by the latest process of this case.
    fn stats(&self) -> Value {
        let text = std::fs::read_to_string(&self.stats)
            .unwrap_or_else(|e| panic!("stats file {}: {e}", self.stats.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("stats not JSON ({e}): {text}"))
    }

    /// A generated key's label and SPKI PEM.
    fn generate(&self, prefix: &str, alg: Algorithm) -> (String, String) {
        let label = unique_label(prefix);
        let (ok, out, err) = run(self.cli(&[]).args([
            "--output",
            "json",
            "key",
            "generate",
            "--label",
            &label,
            "--algorithm",
            alg.name(),
        ]));
        assert!(ok, "generate {alg} through the faulty module: {err}");
        let pem = json(&out)["publicKeyPem"]
            .as_str()
            .expect("publicKeyPem")
            .to_owned();
        (label, pem)
    }

    /// `key sign-challenge` with `faults`; returns (success, stdout, stderr).
    fn sign(&self, label: &str, faults: &[(&str, &str)]) -> (bool, String, String) {
        run(self.cli(faults).args([
            "key",
            "sign-challenge",
            "--key",
            label,
            "--cred-id",
            "cred-f",
            "--challenge",
            "Y2gtZmF1bHR5",
        ]))
    }
}

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

/// A counter from the stats document, by JSON pointer (`/calls/C_Login`); absent means 0.
fn count(stats: &Value, pointer: &str) -> u64 {
    stats
        .pointer(pointer)
        .map(|v| {
            v.as_u64()
                .unwrap_or_else(|| panic!("{pointer} is not a count: {stats}"))
        })
        .unwrap_or(0)
}

/// The signature in a `firstFactor` document verifies over its clientData.
fn assert_verifies(t: &TestToken, alg: Algorithm, pem: &str, first_factor: &str) {
    assert_first_factor_verifies(t.path(), alg, pem, first_factor, "cred-f", "Y2gtZmF1bHR5");
}

#[test]
fn key_commands_and_doctor_pass_through_unchanged() {
    let case = Case::new("pass");
    let (label, pem) = case.generate("faulty-pass", Algorithm::EcdsaP256);

    let (ok, out, err) = run(case.cli(&[]).args(["--output", "json", "key", "list"]));
    assert!(ok, "{err}");
    let keys = json(&out)["keys"].as_array().expect("keys").clone();
    let listed = keys
        .iter()
        .find(|k| k["label"] == label.as_str())
        .unwrap_or_else(|| panic!("{label} missing from {out}"));
    assert_eq!(listed["attributes"]["extractable"], false);

    // The same key read straight from SoftHSM2 has the same public key.
    let (ok, direct, err) = run(case
        .token
        .cli()
        .args(["key", "public-key", "--key", &label]));
    assert!(ok, "{err}");
    assert_eq!(direct.trim(), pem.trim());

    let (ok, out, err) = run(case
        .cli(&[])
        .args(["--output", "json", "doctor", "--key", &label]));
    assert!(ok, "doctor through the faulty module: {out} {err}");
    let report = json(&out);
    assert_eq!(report["ok"], true, "{out}");
    let signature = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "signature")
        .unwrap_or_else(|| panic!("no signature check: {out}"));
    assert_eq!(signature["status"], "ok", "{out}");

    let stats = case.stats();
    assert_eq!(count(&stats, "/faults/total"), 0, "{stats}");
    assert_eq!(count(&stats, "/calls/C_Initialize"), 1, "{stats}");
    assert_eq!(count(&stats, "/calls/C_Login"), 1, "{stats}");
    assert!(count(&stats, "/operations/C_Sign") >= 1, "{stats}");
    assert!(count(&stats, "/sessions/peak") >= 1, "{stats}");
}

#[test]
fn a_wrong_pin_is_tried_exactly_once_through_the_faulty_module() {
    let case = Case::new("pin");
    let (ok, out, err) = run(case.cli(&[]).env("WRONG_PIN", "00000000-not-it").args([
        "--pin-source",
        "env:WRONG_PIN",
        "key",
        "list",
    ]));
    assert!(!ok, "a wrong PIN must fail: {out}");
    assert!(
        err.contains("CKR_PIN_INCORRECT") && err.contains("not retried"),
        "{err}"
    );
    let stats = case.stats();
    assert_eq!(count(&stats, "/calls/C_Login"), 1, "{stats}");
    assert_eq!(count(&stats, "/faults/total"), 0, "{stats}");
    // The token is not locked: the right PIN still works.
    let (ok, _, err) = run(case.cli(&[]).args(["key", "list"]));
    assert!(ok, "{err}");
}

#[test]
fn signing_survives_a_dropped_session_or_a_device_error_with_one_retry() {
    let case = Case::new("retry");
    let (label, pem) = case.generate("faulty-retry", Algorithm::EcdsaP256);
    // Every other C_Sign fails, starting with the first: the signer's retry gets the second.
    for (code, closed) in [("SESSION_HANDLE_INVALID", 1), ("DEVICE_ERROR", 0)] {
        let rule = format!("2@1:{code}");
        let (ok, out, err) = case.sign(&label, &[("FAULTY_SIGN_EVERY", &rule)]);
        assert!(ok, "{code}: sign-challenge must recover: {err}");
        assert_verifies(case.token, Algorithm::EcdsaP256, &pem, &out);
        let stats = case.stats();
        assert_eq!(count(&stats, "/operations/C_Sign"), 2, "{code}: {stats}");
        assert_eq!(
            count(&stats, &format!("/faults/by_rv/CKR_{code}")),
            1,
            "{code}: {stats}"
        );
        assert_eq!(count(&stats, "/faults/total"), 1, "{code}: {stats}");
        assert_eq!(
            count(&stats, "/sessions/closed_by_fault"),
            closed,
            "{code}: {stats}"
        );
        // The login survived on its own session: no second PIN presentation.
        assert_eq!(count(&stats, "/calls/C_Login"), 1, "{code}: {stats}");
    }
}

#[test]
fn a_token_asking_for_a_bigger_buffer_gets_a_second_c_sign() {
    let case = Case::new("buffer");
    let (label, pem) = case.generate("faulty-buffer", Algorithm::Ed25519);
    // The first C_Sign answers CKR_BUFFER_TOO_SMALL without signing (the operation stays
    // active, as PKCS#11 specifies); the signer asks again on the same operation.
    let (ok, out, err) = case.sign(&label, &[("FAULTY_SIGN_NTH", "1:BUFFER_TOO_SMALL:answer")]);
    assert!(ok, "{err}");
    assert_verifies(case.token, Algorithm::Ed25519, &pem, &out);
    let stats = case.stats();
    assert_eq!(
        count(&stats, "/faults/by_rv/CKR_BUFFER_TOO_SMALL"),
        1,
        "{stats}"
    );
    assert_eq!(
        count(&stats, "/calls/C_SignInit"),
        1,
        "same operation: {stats}"
    );
    assert_eq!(count(&stats, "/calls/C_Sign"), 2, "{stats}");
}

#[test]
fn signing_logs_in_again_when_the_login_is_lost() {
    let case = Case::new("relogin");
    let (label, pem) = case.generate("faulty-relogin", Algorithm::Ed25519);
    let (ok, out, err) = case.sign(&label, &[("FAULTY_SIGN_NTH", "1:USER_NOT_LOGGED_IN")]);
    assert!(ok, "sign-challenge must log in again: {err}");
    assert_verifies(case.token, Algorithm::Ed25519, &pem, &out);
    let stats = case.stats();
    assert_eq!(count(&stats, "/faults/by_rv/CKR_USER_NOT_LOGGED_IN"), 1);
    assert_eq!(count(&stats, "/calls/C_Login"), 2, "{stats}");
    assert_eq!(count(&stats, "/operations/C_Sign"), 2, "{stats}");
}

#[test]
fn a_fault_on_the_retry_too_is_reported_after_exactly_two_attempts() {
    let case = Case::new("twice");
    let (label, _) = case.generate("faulty-twice", Algorithm::EcdsaP256);
    // Two independent rules: the first attempt loses its session, the retry hits a device error.
    let (ok, out, err) = case.sign(
        &label,
        &[
            ("FAULTY_SIGN_NTH", "1:SESSION_HANDLE_INVALID"),
            ("FAULTY_SIGN_NTH_2", "2:DEVICE_ERROR"),
        ],
    );
    assert!(!ok, "two faults in a row must fail: {out}");
    assert!(err.contains("CKR_DEVICE_ERROR"), "{err}");
    let stats = case.stats();
    assert_eq!(count(&stats, "/operations/C_Sign"), 2, "{stats}");
    assert_eq!(count(&stats, "/faults/by_rv/CKR_SESSION_HANDLE_INVALID"), 1);
    assert_eq!(count(&stats, "/faults/by_rv/CKR_DEVICE_ERROR"), 1);
    // A fault that never heals is not retried forever either.
    let (ok, _, _) = case.sign(&label, &[("FAULTY_SIGN_AFTER", "0:DEVICE_ERROR")]);
    assert!(!ok);
    assert_eq!(count(&case.stats(), "/operations/C_Sign"), 2);
}

#[test]
fn raw_ec_points_give_the_same_public_keys() {
    let case = Case::new("raw");
    for alg in [Algorithm::EcdsaP256, Algorithm::Ed25519] {
        let (label, pem) = case.generate(&format!("faulty-raw-{}", alg.name()), alg);
        let public_key = |faults: &[(&str, &str)]| {
            let (ok, out, err) = run(case
                .cli(faults)
                .args(["key", "public-key", "--key", &label]));
            assert!(ok, "{alg} public-key with {faults:?}: {err}");
            out
        };
        let wrapped = public_key(&[]);
        assert_eq!(wrapped.trim(), pem.trim());
        let raw = public_key(&[("FAULTY_EC_POINT_RAW", "1")]);
        assert!(
            count(&case.stats(), "/rewrites/ec_points_unwrapped") >= 1,
            "{alg}: the module did not unwrap any point: {}",
            case.stats()
        );
        assert_eq!(raw, wrapped, "{alg}: raw EC point read differently");
        // The signer's self-check uses that public key: signing works too.
        let (ok, out, err) = case.sign(&label, &[("FAULTY_EC_POINT_RAW", "1")]);
        assert!(ok, "{alg}: {err}");
        assert_verifies(case.token, alg, &pem, &out);
    }
}

#[test]
fn a_capped_session_count_does_not_break_signing() {
    let case = Case::new("cap");
    let (label, pem) = case.generate("faulty-cap", Algorithm::EcdsaP256);
    let (ok, out, err) = case.sign(&label, &[("FAULTY_MAX_SESSIONS", "2")]);
    assert!(ok, "signing under a cap of 2 sessions: {err}");
    assert_verifies(case.token, Algorithm::EcdsaP256, &pem, &out);
    let stats = case.stats();
    assert!(count(&stats, "/sessions/peak") <= 2, "{stats}");
    // The signer read the cap from C_GetTokenInfo and never asked for a third session.
    assert_eq!(
        count(&stats, "/faults/by_rv/CKR_SESSION_COUNT"),
        0,
        "{stats}"
    );
}

#[test]
fn a_token_with_a_single_session_gets_a_clear_error() {
    let case = Case::new("cap-one");
    let (label, _) = case.generate("faulty-cap-one", Algorithm::EcdsaP256);
    let (ok, _, err) = case.sign(&label, &[("FAULTY_MAX_SESSIONS", "1")]);
    assert!(!ok, "one session cannot hold the login and do the work");
    assert!(
        err.contains("CKR_SESSION_COUNT") && err.contains("needs two"),
        "{err}"
    );
    assert_eq!(err.matches("error:").count(), 1, "{err}");
}

#[test]
fn doctor_fits_in_a_capped_session_count() {
    let case = Case::new("cap-doctor");
    let (label, _) = case.generate("faulty-cap-doctor", Algorithm::EcdsaP256);
    let (ok, out, err) = run(case
        .cli(&[("FAULTY_MAX_SESSIONS", "2")])
        .args(["--output", "json", "doctor", "--key", &label]));
    assert!(ok, "doctor under a cap of 2 sessions: {out} {err}");
    assert!(count(&case.stats(), "/sessions/peak") <= 2);
}

#[test]
fn the_token_vanishes_and_comes_back_on_demand() {
    let case = Case::new("absent");
    let control = case.token.path().join(unique_label("control"));
    std::fs::create_dir(&control).expect("control dir");
    let control_env = control.to_str().expect("utf-8 path");
    std::fs::write(control.join(ABSENT_FILE), b"").expect("touch");
    let (ok, _, err) = run(case
        .cli(&[("FAULTY_CONTROL_DIR", control_env)])
        .args(["key", "list"]));
    assert!(!ok, "the token is absent");
    assert!(err.contains("no token"), "{err}");
    let stats = case.stats();
    assert_eq!(stats["token"]["absent"], true, "{stats}");

    std::fs::remove_file(control.join(ABSENT_FILE)).expect("rm");
    let (ok, _, err) = run(case
        .cli(&[("FAULTY_CONTROL_DIR", control_env)])
        .args(["key", "list"]));
    assert!(ok, "the token is back: {err}");
    assert_eq!(case.stats()["token"]["absent"], false);
}

#[test]
fn latency_is_spent_inside_c_sign() {
    let case = Case::new("latency");
    let (label, _) = case.generate("faulty-latency", Algorithm::EcdsaP256);
    let started = Instant::now();
    let (ok, _, err) = case.sign(&label, &[("FAULTY_SIGN_LATENCY_MS", "400")]);
    assert!(ok, "{err}");
    // One C_Sign round trip per signature: the signature size is known, so dfns-hsm skips
    // the length query that would double the latency on a network HSM.
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(count(&case.stats(), "/calls/C_Sign"), 1);
}

#[test]
fn a_missing_real_module_is_a_clear_error() {
    let case = Case::new("missing");
    let (ok, _, err) = run(case
        .cli(&[("FAULTY_PKCS11_MODULE", "/nonexistent/libreal.so")])
        .args(["key", "list"]));
    assert!(!ok);
    assert!(
        err.contains("faulty-pkcs11: cannot load the real PKCS#11 module /nonexistent/libreal.so"),
        "{err}"
    );
    assert!(err.contains("failed to initialize"), "{err}");
    let (ok, _, err) = run(case
        .cli(&[("FAULTY_SIGN_EVRY", "1:DEVICE_ERROR")])
        .args(["key", "list"]));
    assert!(!ok);
    assert!(err.contains("unknown variable FAULTY_SIGN_EVRY"), "{err}");
}

#[test]
fn a_module_that_stays_uninitialized_fails_at_once_instead_of_waiting_out_the_budget() {
    let case = Case::new("not-init");
    let (label, _) = case.generate("faulty-not-init", Algorithm::EcdsaP256);
    // Every C_Sign answers CKR_CRYPTOKI_NOT_INITIALIZED, even right after C_Initialize (as an
    // uninitialized module instance does): one re-initialization, then the error, no backoff.
    let started = Instant::now();
    let (ok, out, err) = case.sign(
        &label,
        &[("FAULTY_SIGN_AFTER", "0:CRYPTOKI_NOT_INITIALIZED")],
    );
    let took = started.elapsed();
    assert!(!ok, "signing must fail: {out}");
    assert!(err.contains("CKR_CRYPTOKI_NOT_INITIALIZED"), "{err}");
    assert!(
        took < Duration::from_secs(10),
        "took {took:?}: waited as for a token outage (60 s budget)"
    );
    let stats = case.stats();
    assert_eq!(
        count(&stats, "/calls/C_Initialize"),
        2,
        "one re-initialization: {stats}"
    );
}

#[test]
fn a_token_whose_info_cannot_be_read_is_reported_not_skipped() {
    let case = Case::new("token-info");
    let faults = [("FAULTY_GET_TOKEN_INFO_AFTER", "0:GENERAL_ERROR")];
    let (ok, out, err) = run(case.cli(&faults).args(["token", "list"]));
    assert!(ok, "token list: {err}");
    assert!(
        out.contains("token info unreadable") && out.contains("CKR_GENERAL_ERROR"),
        "{out}"
    );
    let (ok, _, err) = run(case.cli(&faults).args(["key", "list"]));
    assert!(!ok);
    assert!(
        err.contains("tokens present: slot ") && err.contains("token info unreadable"),
        "{err}"
    );
}
