//! The API client against a faulty emulator over HTTP: refused requests (429/500/503, with and
//! without Retry-After), responses lost after the work was done (connection closed, 500,
//! hang until timeout). Every user action is signed by a key on a real SoftHSM2 token.
//!
//! What must hold: every mutation happens exactly once (checked against the emulator's state
//! and its journal of committed mutations), no call reports a failure, except creates whose
//! response, and so the only copy of the token, was lost: those are reported loudly, with the
//! id of the account that exists.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::emulator::Emulator;
use common::softhsm::{token, unique_label};
use dfns_hsm::api::{
    ApiError, ApiUrl, AuthToken, CreateServiceAccount, DfnsClient, Method, Outcome, RetryPolicy,
    RetryStats, ServiceAccount, UpdateServiceAccount,
};
use dfns_hsm::hsm::{generate_key, Algorithm};
use dfns_hsm::signer::HsmSigner;
use serde_json::Value;

/// Start an emulator whose admin signs with a fresh P-256 key on the SoftHSM2 token, and an
/// admin client with `policy` and `request_timeout`.
fn setup(
    faults: &[&str],
    policy: RetryPolicy,
    request_timeout: Duration,
) -> (Emulator, DfnsClient, String) {
    let token = token().open();
    let key = Arc::new(
        generate_key(&token, &unique_label("retry-admin"), Algorithm::EcdsaP256).expect("key"),
    );
    let pem_text = key.info().public_key_pem.clone().expect("pem");
    let pem = common::softhsm::token()
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

/// Fast retries with a generous attempt budget: at 20% refusals per request, a signed
/// attempt (three requests) fails about half the time.
fn test_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 30,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(20),
        deadline: Some(Duration::from_secs(60)),
        ..RetryPolicy::default()
    }
}

async fn emulator_stats(client: &DfnsClient) -> Value {
    match client
        .call(Method::GET, "/_emulator/stats", None)
        .await
        .expect("stats")
    {
        Outcome::Done(r) => r.body,
        Outcome::PendingApproval(v) => panic!("stats pending? {v}"),
    }
}

/// What one run did, for assertions and the report.
#[derive(Default)]
struct Run {
    /// name -> id of each account created (token received or lost).
    ids: BTreeMap<String, String>,
    tokens_lost: Vec<String>,
    failures: Vec<String>,
    mutations: usize,
}

struct Account {
    index: usize,
    name: String,
    id: String,
}

impl Run {
    fn fail(&mut self, what: &str, e: &ApiError) {
        self.failures.push(format!("{what}: {e}"));
    }

    /// Check a typed mutation's result: done (not pending), and what `ok` says.
    fn done(
        &mut self,
        what: &str,
        r: Result<Outcome<ServiceAccount>, ApiError>,
        ok: impl Fn(&ServiceAccount) -> bool,
    ) {
        self.mutations += 1;
        match r {
            Ok(Outcome::Done(a)) if ok(&a) => {}
            Ok(Outcome::Done(a)) => self
                .failures
                .push(format!("{what}: unexpected result {:?}", a.user_info)),
            Ok(Outcome::PendingApproval(v)) => self.failures.push(format!("{what}: pending {v}")),
            Err(e) => self.fail(what, &e),
        }
    }
}

fn ext(i: usize, round: u32) -> String {
    format!("ext-{round}-{i}")
}

/// Create, update, deactivate, activate and archive `count` accounts, checking the state
/// after each phase. Returns what happened.
async fn lifecycle(client: &DfnsClient, public_key: &str, prefix: &str, count: usize) -> Run {
    let sa = client.service_accounts();
    let mut run = Run::default();

    // Phase 1: create.
    for i in 0..count {
        let name = format!("{prefix}-{i}");
        let request = CreateServiceAccount {
            name: name.clone(),
            public_key: public_key.to_owned(),
            external_id: Some(ext(i, 1)),
            days_valid: Some(30),
            ..Default::default()
        };
        run.mutations += 1;
        match sa.create(&request).await {
            Ok(Outcome::Done(a)) => {
                assert!(
                    a.access_token().is_some(),
                    "{name}: a create answer has the token"
                );
                assert_eq!(a.user_info.name, name);
                run.ids.insert(name, a.id().to_owned());
            }
            Ok(Outcome::PendingApproval(v)) => run.failures.push(format!("{name}: pending {v}")),
            Err(e) => match e.created_without_token() {
                Some(id) => {
                    let msg = e.to_string();
                    assert!(
                        msg.contains("SERVICE ACCOUNT CREATED BUT ITS TOKEN WAS LOST")
                            && msg.contains(&format!("{name:?} exists (id {id}"))
                            && msg.contains("found by name and externalId")
                            && msg.contains(&format!("dfns-hsm service-account archive {id}"))
                            && msg.contains("create it again"),
                        "not loud or not correct: {msg}"
                    );
                    run.tokens_lost.push(name.clone());
                    run.ids.insert(name, id.to_owned());
                }
                None => run.fail(&format!("create {name}"), &e),
            },
        }
    }
    let listed = sa.list().await.expect("list");
    let mut by_name: HashMap<&str, Vec<&ServiceAccount>> = HashMap::new();
    for a in &listed.items {
        by_name
            .entry(a.user_info.name.as_str())
            .or_default()
            .push(a);
    }
    for (name, id) in &run.ids {
        let found = by_name.get(name.as_str()).cloned().unwrap_or_default();
        assert_eq!(found.len(), 1, "{name} exists {} times", found.len());
        assert_eq!(found[0].id(), id, "{name}");
        assert!(found[0].user_info.is_active);
    }
    let ours = listed
        .items
        .iter()
        .filter(|a| a.user_info.name.starts_with(&format!("{prefix}-")))
        .count();
    assert_eq!(ours, count, "exactly one account per create");

    let accounts: Vec<Account> = (0..count)
        .filter_map(|i| {
            let name = format!("{prefix}-{i}");
            let id = run.ids.get(&name)?.clone();
            Some(Account { index: i, name, id })
        })
        .collect();

    // Phase 2: update name and externalId.
    for a in &accounts {
        let name = format!("{}-v2", a.name);
        let request = UpdateServiceAccount {
            name: Some(name.clone()),
            external_id: Some(ext(a.index, 2)),
        };
        let r = sa.update(&a.id, &request).await;
        run.done(&format!("update {}", a.id), r, |s| s.user_info.name == name);
    }
    let listed = sa.list().await.expect("list");
    for a in &accounts {
        let now = listed
            .items
            .iter()
            .find(|s| s.id() == a.id)
            .expect("listed");
        assert_eq!(now.user_info.name, format!("{}-v2", a.name));
        assert_eq!(now.external_id(), Some(ext(a.index, 2).as_str()));
    }

    // Phases 3 and 4: deactivate, then activate.
    for active in [false, true] {
        for a in &accounts {
            let r = if active {
                sa.activate(&a.id).await
            } else {
                sa.deactivate(&a.id, false).await
            };
            run.done(&format!("active={active} {}", a.id), r, |s| {
                s.user_info.is_active == active
            });
        }
        let listed = sa.list().await.expect("list");
        for a in &accounts {
            let now = listed
                .items
                .iter()
                .find(|s| s.id() == a.id)
                .expect("listed");
            assert_eq!(now.user_info.is_active, active, "{}", a.id);
        }
    }

    // Phase 5: archive.
    for a in &accounts {
        let r = sa.archive(&a.id, false).await;
        run.done(&format!("archive {}", a.id), r, |s| {
            s.id() == a.id && !s.user_info.is_active
        });
    }
    let listed = sa.list().await.expect("list");
    for a in &accounts {
        assert!(
            listed.items.iter().all(|s| s.id() != a.id),
            "{} still listed",
            a.id
        );
        let e = sa.get(&a.id).await.expect_err("archived");
        assert_eq!(e.status(), Some(404), "{e}");
    }
    run
}

/// Each account's committed mutations, from the emulator's journal: exactly one of each.
fn assert_exactly_once(stats: &Value, run: &Run) {
    let mut per_account: HashMap<&str, BTreeMap<&str, usize>> = HashMap::new();
    for c in stats["committed"].as_array().expect("journal") {
        let id = c["serviceAccountId"].as_str().expect("id");
        let op = c["op"].as_str().expect("op");
        *per_account.entry(id).or_default().entry(op).or_default() += 1;
    }
    let once: BTreeMap<&str, usize> = [
        "ServiceAccounts:Create",
        "ServiceAccounts:Update",
        "ServiceAccounts:Deactivate",
        "ServiceAccounts:Activate",
        "ServiceAccounts:Archive",
    ]
    .into_iter()
    .map(|op| (op, 1))
    .collect();
    for (name, id) in &run.ids {
        assert_eq!(
            per_account.get(id.as_str()),
            Some(&once),
            "{name} ({id}): each mutation must be committed exactly once"
        );
    }
    assert_eq!(
        per_account.len(),
        run.ids.len(),
        "no account was created that the run does not know of"
    );
}

fn report(label: &str, count: usize, run: &Run, client: RetryStats, emu: &Value, took: Duration) {
    println!(
        "{label}: {} mutations on {count} accounts in {:.1}s; client: {} HTTP requests, {} \
         attempts, {} retries, {} reconciliations ({} found the change already made), {} \
         tokens lost, {} outcome unknown, {} gave up; emulator: {} requests, refused {}, \
         Retry-After sent {}, responses lost after commit {}",
        run.mutations,
        took.as_secs_f32(),
        client.requests,
        client.attempts,
        client.retries,
        client.reconciliations,
        client.reconciled_applied,
        client.tokens_lost,
        client.outcome_unknown,
        client.gave_up,
        emu["requests"],
        emu["refused"],
        emu["retryAfterSent"],
        emu["dropped"],
    );
}

fn total(v: &Value) -> u64 {
    v.as_object()
        .map(|o| o.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0)
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
    assert!(took < Duration::from_secs(150), "took {took:?}");
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
