//! The service-account lifecycle used by the reliability tests: create, update, deactivate,
//! activate and archive N accounts through a client, recording what happened, and checking
//! against the emulator's journal that each mutation was committed exactly once.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use dfns_hsm::api::{
    ApiError, CreateServiceAccount, DfnsClient, Method, Outcome, RetryPolicy, RetryStats,
    ServiceAccount, UpdateServiceAccount,
};
use serde_json::Value;

/// Fast retries with a generous attempt budget: at 20% refusals per request, a signed
/// attempt (three requests) fails about half the time.
pub fn test_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 30,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(20),
        deadline: Some(Duration::from_secs(60)),
        ..RetryPolicy::default()
    }
}

pub async fn emulator_stats(client: &DfnsClient) -> Value {
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
pub struct Run {
    /// name -> id of each account created (token received or lost).
    pub ids: BTreeMap<String, String>,
    pub tokens_lost: Vec<String>,
    pub failures: Vec<String>,
    pub mutations: usize,
}

pub struct Account {
    pub index: usize,
    pub name: String,
    pub id: String,
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

pub fn ext(i: usize, round: u32) -> String {
    format!("ext-{round}-{i}")
}

/// Create, update, deactivate, activate and archive `count` accounts, checking the state
/// after each phase. Returns what happened.
pub async fn lifecycle(client: &DfnsClient, public_key: &str, prefix: &str, count: usize) -> Run {
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
            Err(e) => match e.created_without_token().map(str::to_owned) {
                Some(id) => {
                    let msg = e.to_string();
                    assert!(
                        msg.contains("SERVICE ACCOUNT CREATED BUT ITS TOKEN WAS LOST")
                            && msg.contains(&format!("{name:?} exists (id {id}"))
                            && msg.contains("found by name and externalId")
                            && msg.contains(&format!("archive account {id}"))
                            && msg.contains("create it again"),
                        "not loud or not correct: {msg}"
                    );
                    // The library states the facts; the CLI names the command that archives.
                    let hint = dfns_hsm::cli::CliError::from(e).hint().unwrap_or_default();
                    assert!(
                        hint.contains(&format!("dfns-hsm service-account archive {id}")),
                        "the CLI's hint: {hint}"
                    );
                    run.tokens_lost.push(name.clone());
                    run.ids.insert(name, id);
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
    assert_eq!(
        ours, count,
        "exactly one account per create; failures so far: {:#?}",
        run.failures
    );

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
pub fn assert_exactly_once(stats: &Value, run: &Run) {
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

pub fn report(
    label: &str,
    count: usize,
    run: &Run,
    client: RetryStats,
    emu: &Value,
    took: Duration,
) {
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

pub fn total(v: &Value) -> u64 {
    v.as_object()
        .map(|o| o.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0)
}
