//! A token that vanishes and comes back, in one long-lived process: signing waits it out and
//! recovers (new slot lookup, new login, handles found again) without a restart; a token
//! that stays away past the recovery budget is reported unusable.
//!
//! Runs in a process of its own: the faulty module (over SoftHSM2) is loaded in-process with
//! its settings taken from the environment at `C_Initialize`.

use std::sync::Arc;
use std::time::Duration;

use dfns_hsm::hsm::{
    Algorithm, Error as HsmError, Key, KeySelector, Module, PinSource, Token, TokenOptions,
    TokenSelector,
};
use testkit::artifact::faulty_module;
use testkit::verify::verify_p256;
use testkit::{token, unique_label, LABEL};

#[test]
fn a_token_gone_for_five_seconds_is_recovered_and_one_gone_for_good_is_reported() {
    let t = token();
    let control = tempfile::tempdir().expect("control dir");
    let stats = control.path().join("stats.json");
    // Before the module is loaded: the faulty module reads these at C_Initialize.
    std::env::set_var("FAULTY_PKCS11_MODULE", &t.module);
    std::env::set_var("FAULTY_CONTROL_DIR", control.path());
    std::env::set_var("FAULTY_STATS_FILE", &stats);
    let module = Module::load(&faulty_module(), None).expect("load the faulty module");
    let open = |budget: Duration| {
        Token::open(
            Arc::clone(&module),
            &TokenSelector::Label(LABEL.into()),
            &PinSource::File(t.pin_file.clone()),
            TokenOptions {
                recovery_budget: budget,
                ..TokenOptions::default()
            },
        )
        .expect("open")
    };
    let tok = open(Duration::from_secs(60));
    let label = unique_label("outage");
    let key = Key::generate(&tok, &label, Algorithm::EcdsaP256).expect("generate");
    let spki = key.info().spki_der().to_vec();
    assert!(verify_p256(
        &spki,
        b"before",
        &key.sign(b"before").expect("sign before")
    ));

    // The token disappears (its sessions die with it) and comes back 5 s later.
    let absent = control.path().join("absent");
    std::fs::write(&absent, b"").expect("unplug");
    let replug = {
        let absent = absent.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(5));
            std::fs::remove_file(absent).expect("replug");
        })
    };
    let sig = key
        .sign(b"during")
        .expect("the signature waits for the token and is made");
    replug.join().expect("replug thread");
    assert!(verify_p256(&spki, b"during", &sig));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&stats).expect("stats")).expect("json");
    assert_eq!(s["token"]["absences"], 1, "{s}");
    assert!(
        s["faults"]["total"].as_u64().unwrap_or(0) > 0,
        "the outage was seen: {s}"
    );
    assert!(
        s["calls"]["C_Login"].as_u64().unwrap_or(0) >= 2,
        "login restored: {s}"
    );
    // And it keeps working, found again by label/id.
    let again = Key::find(&tok, KeySelector::Label(label.clone())).expect("find after outage");
    assert!(verify_p256(
        &spki,
        b"after",
        &again.sign(b"after").expect("sign after")
    ));

    // Gone for good: after the budget, a clear "unusable" error, not an endless wait.
    let short = open(Duration::from_secs(2));
    let key = Key::find(&short, KeySelector::Label(label)).expect("find");
    std::fs::write(&absent, b"").expect("unplug for good");
    let err = key.sign(b"never").unwrap_err();
    std::fs::remove_file(&absent).expect("cleanup");
    assert!(matches!(err, HsmError::Unusable { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("unusable") && msg.contains(LABEL), "{msg}");
}
