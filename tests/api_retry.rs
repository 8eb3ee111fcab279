//! The API client against a faulty emulator over HTTP: refused requests (429/500/503, with and
//! without Retry-After), responses lost after the work was done (connection closed, 500,
//! hang until timeout). Every user action is signed by a key on a real SoftHSM2 token.
//!
//! What must hold: every mutation happens exactly once (checked against the emulator's state
//! and its journal of committed mutations), no call reports a failure, except creates whose
//! response, and so the only copy of the token, was lost: those are reported loudly, with the
//! id of the account that exists.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::lifecycle::{
    assert_exactly_once, emulator_stats, lifecycle, report, test_policy, total,
};
use dfns_hsm::api::{ApiUrl, AuthToken, DfnsClient, RetryPolicy};
use dfns_hsm::hsm::{Algorithm, Key};
use dfns_hsm::signer::HsmSigner;
use testkit::Emulator;
use testkit::{token, unique_label};

/// Start an emulator whose admin signs with a fresh P-256 key on the SoftHSM2 token, and an
/// admin client with `policy` and `request_timeout`.
fn setup(
    faults: &[&str],
    policy: RetryPolicy,
    request_timeout: Duration,
) -> (Emulator, DfnsClient, String) {
    let token = token().open();
    let key = Arc::new(
        Key::generate(&token, &unique_label("retry-admin"), Algorithm::EcdsaP256).expect("key"),
    );
    let pem_text = key.info().public_key_pem.clone().expect("pem");
    let pem = testkit::token()
        .path()
        .join(format!("{}.pem", unique_label("retry-admin-pub")));
    std::fs::write(&pem, &pem_text).expect("write pem");
    let mut args = vec!["--admin-public-key", pem.to_str().expect("utf8")];
    args.extend_from_slice(faults);
    let emu = Emulator::start(&args);
    let signer = HsmSigner::new(key, &emu.admin_cred_id()).expect("signer");
    let client = DfnsClient::builder(
        ApiUrl::parse(emu.base_url()).expect("url"),
        AuthToken::new(emu.admin_token()).expect("token"),
    )
    .signer(Arc::new(signer))
    .request_timeout(request_timeout)
    .retry_policy(policy)
    .build()
    .expect("client");
    (emu, client, pem_text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_mutations_through_refusals_and_lost_responses() {
    const ACCOUNTS: usize = 100;
    let (_emu, client, public_key) = setup(
        &[
            "--fail-rate",
            "0.2",
            "--fail-retry-after",
            "0",
            "--drop-response-rate",
            "0.1",
            "--drop-response-mode",
            "close",
            "--drop-response-mode",
            "500",
            "--fail-seed",
            "20260501",
        ],
        test_policy(),
        Duration::from_secs(10),
    );
    let started = Instant::now();
    let run = lifecycle(&client, &public_key, &unique_label("bulk"), ACCOUNTS).await;
    let took = started.elapsed();
    let stats = emulator_stats(&client).await;
    let retry = client.retry_stats();
    report("bulk", ACCOUNTS, &run, retry, &stats, took);

    assert!(run.failures.is_empty(), "calls failed: {:#?}", run.failures);
    assert!(run.mutations >= 500, "{}", run.mutations);
    assert_eq!(run.ids.len(), ACCOUNTS);
    assert_exactly_once(&stats, &run);
    // The faults really happened, and the client really went through them.
    assert!(total(&stats["refused"]) >= 300, "{stats}");
    for status in ["429", "500", "503"] {
        assert!(
            stats["refused"][status].as_u64() > Some(50),
            "{status}: {stats}"
        );
    }
    assert!(stats["retryAfterSent"].as_u64() > Some(0), "{stats}");
    assert!(stats["dropped"]["close"].as_u64() > Some(20), "{stats}");
    assert!(stats["dropped"]["500"].as_u64() > Some(20), "{stats}");
    assert!(retry.retries >= 300, "{retry:?}");
    assert!(retry.reconciliations >= 20, "{retry:?}");
    assert!(retry.reconciled_applied >= 10, "{retry:?}");
    // Some creates lost their answer after committing, and each was reported as such.
    assert!(!run.tokens_lost.is_empty(), "no create lost its answer");
    assert_eq!(retry.tokens_lost as usize, run.tokens_lost.len());
    assert_eq!((retry.outcome_unknown, retry.gave_up), (0, 0), "{retry:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_and_timeouts_after_the_work() {
    const ACCOUNTS: usize = 6;
    const TIMEOUT: Duration = Duration::from_millis(1500);
    let (_emu, client, public_key) = setup(
        &[
            "--fail-rate",
            "0.08",
            "--fail-status",
            "429",
            "--fail-status",
            "503",
            "--fail-retry-after",
            "2",
            "--drop-response-rate",
            "0.15",
            "--drop-response-route",
            "POST /auth/service-accounts",
            "--drop-response-route",
            "PUT /auth/service-accounts/",
            "--drop-response-route",
            "DELETE /auth/service-accounts/",
            "--drop-response-mode",
            "hang",
            "--fail-seed",
            "7",
        ],
        test_policy(),
        // Long enough that a request the emulator is still handling (on a busy CI machine)
        // is not mistaken for a hung one: that race is real, see docs/RELIABILITY.md.
        TIMEOUT,
    );
    let started = Instant::now();
    let run = lifecycle(&client, &public_key, &unique_label("slow"), ACCOUNTS).await;
    let took = started.elapsed();
    let stats = emulator_stats(&client).await;
    let retry = client.retry_stats();
    report("slow", ACCOUNTS, &run, retry, &stats, took);

    assert!(run.failures.is_empty(), "calls failed: {:#?}", run.failures);
    assert_exactly_once(&stats, &run);
    let hangs = stats["dropped"]["hang"].as_u64().unwrap_or(0);
    let retry_afters = stats["retryAfterSent"].as_u64().unwrap_or(0);
    assert!(hangs > 0, "no response hung: {}", stats["dropped"]);
    assert!(
        retry_afters > 0,
        "no Retry-After sent: {}",
        stats["refused"]
    );
    // Each Retry-After (2 s as seconds, more than 1 s as a date) was waited out, one after
    // the other; each hang cost a client timeout.
    let floor = Duration::from_secs(retry_afters) + TIMEOUT * hangs as u32;
    assert!(took >= floor, "took {took:?}, less than {floor:?}");
    // Only mutations lose their answers here, and each loss is reconciled.
    assert!(
        retry.reconciliations >= total(&stats["dropped"]),
        "{retry:?}"
    );
}
