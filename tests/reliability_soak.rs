//! The reliability scenario of record: at least 500 signed service-account mutations, every
//! signature made through the fault-injecting PKCS#11 module over SoftHSM2 (the session
//! invalidated on every 7th `C_Sign`, a device error on every 11th, 2 ms per `C_Sign`), sent to
//! an emulator that refuses 20% of requests with 429/500/503. Every mutation must succeed
//! exactly once (the emulator's journal), and no call may report a failure to the caller.
//!
//! In a process of its own: the faulty module is loaded in-process and reads its settings from
//! the environment at `C_Initialize`.

mod common;

use std::sync::Arc;
use std::time::Instant;

use common::lifecycle::{
    assert_exactly_once, emulator_stats, lifecycle, report, test_policy, total,
};
use dfns_hsm::api::{ApiUrl, AuthToken, DfnsClient};
use dfns_hsm::hsm::{Algorithm, Key, Module, PinSource, Token, TokenOptions, TokenSelector};
use dfns_hsm::signer::HsmSigner;
use serde_json::Value;
use testkit::artifact::faulty_module;
use testkit::Emulator;
use testkit::{token, unique_label, LABEL};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_mutations_through_a_faulty_hsm_and_a_throttling_api() {
    const ACCOUNTS: usize = 100; // x5 mutations each
    let t = token();
    let dir = tempfile::tempdir().expect("tmp");
    let hsm_stats = dir.path().join("faulty-stats.json");
    std::env::set_var("FAULTY_PKCS11_MODULE", &t.module);
    std::env::set_var("FAULTY_SIGN_EVERY", "7:SESSION_HANDLE_INVALID");
    std::env::set_var("FAULTY_SIGN_EVERY_2", "11:DEVICE_ERROR");
    std::env::set_var("FAULTY_SIGN_LATENCY_MS", "2");
    std::env::set_var("FAULTY_STATS_FILE", &hsm_stats);
    let module = Module::load(&faulty_module(), None).expect("load the faulty module");
    let tok = Token::open(
        module,
        &TokenSelector::Label(LABEL.into()),
        &PinSource::File(t.pin_file.clone()),
        TokenOptions::default(),
    )
    .expect("open");
    let key = Arc::new(
        Key::generate(&tok, &unique_label("soak-admin"), Algorithm::EcdsaP256).expect("key"),
    );
    let pem_text = key.info().public_key_pem.clone().expect("pem");
    let pem = dir.path().join("admin.pem");
    std::fs::write(&pem, &pem_text).expect("pem");
    let emu = Emulator::start(&[
        "--admin-public-key",
        pem.to_str().expect("utf8"),
        "--fail-rate",
        "0.2",
        "--fail-status",
        "429",
        "--fail-status",
        "500",
        "--fail-status",
        "503",
        "--fail-seed",
        "7",
        // Retry-After is honoured (tests/api_retry.rs checks it); a zero keeps this run short.
        "--fail-retry-after",
        "0",
    ]);
    let signer = HsmSigner::new(key, &emu.admin_cred_id()).expect("signer");
    let client = DfnsClient::builder(
        ApiUrl::parse(emu.base_url()).expect("url"),
        AuthToken::new(emu.admin_token()).expect("token"),
    )
    .signer(Arc::new(signer))
    .retry_policy(test_policy())
    .build()
    .expect("client");

    let started = Instant::now();
    let run = lifecycle(&client, &pem_text, &unique_label("soak"), ACCOUNTS).await;
    let took = started.elapsed();
    let stats = emulator_stats(&client).await;
    let retry = client.retry_stats();
    report("soak", ACCOUNTS, &run, retry, &stats, took);
    let hsm: Value =
        serde_json::from_str(&std::fs::read_to_string(&hsm_stats).expect("stats")).expect("json");
    eprintln!("faulty module: {}", hsm["faults"]);

    // Every mutation succeeded, exactly once, with nothing reported to the caller.
    assert!(run.failures.is_empty(), "calls failed: {:#?}", run.failures);
    assert!(
        run.tokens_lost.is_empty(),
        "nothing was lost: {:?}",
        run.tokens_lost
    );
    assert!(run.mutations >= 500, "{}", run.mutations);
    assert_eq!(run.ids.len(), ACCOUNTS);
    assert_exactly_once(&stats, &run);
    // The faults were real: on the HSM side...
    let by_rv = &hsm["faults"]["by_rv"];
    assert!(
        by_rv["CKR_SESSION_HANDLE_INVALID"].as_u64() > Some(50),
        "{hsm}"
    );
    assert!(by_rv["CKR_DEVICE_ERROR"].as_u64() > Some(30), "{hsm}");
    // ...and on the API side.
    assert!(total(&stats["refused"]) >= 300, "{stats}");
    for status in ["429", "500", "503"] {
        assert!(
            stats["refused"][status].as_u64() > Some(50),
            "{status}: {stats}"
        );
    }
    assert!(retry.retries >= 300, "{retry:?}");
    assert_eq!(
        (retry.outcome_unknown, retry.gave_up, retry.tokens_lost),
        (0, 0, 0),
        "{retry:?}"
    );
}
