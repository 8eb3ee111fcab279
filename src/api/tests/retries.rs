//! Retries and reconciliation on the wire: what is sent again, what is checked, what is
//! reported. Each test scripts the server's answers request by request.

use std::time::{Duration, Instant};

use serde_json::json;

use super::responder::{ok, serve, Recorded, Reply};
use super::*;
use crate::api::{
    ApiError, CreateServiceAccount, Method, Outcome, RequestBody, RetryPolicy, UpdateServiceAccount,
};

/// Quick retries so the tests take milliseconds.
fn fast() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        ..RetryPolicy::default()
    }
}

fn retrying_client(base: &str, policy: RetryPolicy) -> DfnsClient {
    DfnsClient::builder(ApiUrl::parse(base).expect("url"), token())
        .signer(p256_signer())
        .connect_timeout(Duration::from_secs(2))
        .request_timeout(Duration::from_secs(5))
        .retry_policy(policy)
        .build()
        .expect("client")
}

fn status(code: u16) -> Reply {
    Reply::Status(
        code,
        json!({"error": {"id": "e-1", "status": code, "message": "injected"}}).to_string(),
    )
}

/// The three answers of a successful user-action flow ending with `final_reply`, using a
/// distinct user-action token so the test can tell which flow the request belongs to.
fn flow(user_action: &str, final_reply: Reply) -> Vec<Reply> {
    vec![
        ok(challenge_json()),
        ok(json!({ "userAction": user_action }).to_string()),
        final_reply,
    ]
}

fn account_with(id: &str, name: &str, active: bool, external_id: Option<&str>) -> String {
    let mut v: serde_json::Value = serde_json::from_str(&account_json(id, false)).expect("json");
    v["userInfo"]["name"] = json!(name);
    v["userInfo"]["isActive"] = json!(active);
    if let Some(e) = external_id {
        v["userInfo"]["externalId"] = json!(e);
    }
    v.to_string()
}

fn targets(seen: &[Recorded]) -> Vec<String> {
    seen.iter()
        .map(|r| format!("{} {}", r.method, r.target))
        .collect()
}

const INIT: &str = "POST /auth/action/init";
const ACTION: &str = "POST /auth/action";

#[tokio::test]
async fn a_read_is_retried_after_503_500_and_a_lost_connection() {
    let (base, seen) = serve(vec![
        status(503),
        status(500),
        Reply::Close,
        ok(r#"{"items":[]}"#),
    ])
    .await;
    let c = retrying_client(&base, fast());
    let list = c.service_accounts().list().await.expect("list");
    assert!(list.items.is_empty());
    assert_eq!(recorded(seen).await.len(), 4);
    let stats = c.retry_stats();
    assert_eq!((stats.attempts, stats.retries, stats.requests), (4, 3, 4));
    assert_eq!(stats.reconciliations, 0, "reads are never reconciled");
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let (base, seen) = serve(vec![
        Reply::WithHeaders(429, vec![("retry-after", "1")], "{}".into()),
        ok(r#"{"items":[]}"#),
    ])
    .await;
    let c = retrying_client(&base, fast());
    let started = Instant::now();
    c.service_accounts().list().await.expect("list");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(950),
        "retried after {waited:?}, before the server's Retry-After: 1"
    );
    assert_eq!(recorded(seen).await.len(), 2);
}

#[tokio::test]
async fn a_retry_after_longer_than_the_client_waits_ends_the_call_at_once() {
    let (base, seen) = serve(vec![Reply::WithHeaders(
        429,
        vec![("retry-after", "3600")],
        "{}".into(),
    )])
    .await;
    let c = retrying_client(&base, fast());
    let started = Instant::now();
    let e = c.service_accounts().list().await.expect_err("429");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(e.status(), Some(429));
    assert_eq!(
        e.http().and_then(|h| h.retry_after),
        Some(Duration::from_secs(3600))
    );
    assert!(e.to_string().contains("Retry-After 3600s"), "{e}");
    assert_eq!(recorded(seen).await.len(), 1);
}

#[tokio::test]
async fn giving_up_names_the_attempts_and_keeps_the_last_error() {
    let (base, seen) = serve(vec![status(503), status(503), status(502)]).await;
    let c = retrying_client(
        &base,
        RetryPolicy {
            max_attempts: 3,
            ..fast()
        },
    );
    let e = c.service_accounts().get("us-1").await.expect_err("gave up");
    assert!(
        matches!(e, ApiError::RetriesExhausted { attempts: 3, .. }),
        "{e:?}"
    );
    assert_eq!(e.status(), Some(502));
    let msg = e.to_string();
    assert!(
        msg.starts_with("GET /auth/service-accounts/us-1 failed after 3 attempts"),
        "{msg}"
    );
    assert!(msg.contains("no attempts left"), "{msg}");
    assert_eq!(c.retry_stats().gave_up, 1);
    assert_eq!(recorded(seen).await.len(), 3);
}

#[tokio::test]
async fn a_refused_mutation_is_sent_again_with_a_fresh_user_action() {
    let mut replies = flow("ua-1", status(429));
    replies.extend(flow("ua-2", status(503)));
    replies.extend(flow("ua-3", ok(account_json("us-1", false))));
    let (base, seen) = serve(replies).await;
    let c = retrying_client(&base, fast());
    let done = c
        .service_accounts()
        .activate("us-1")
        .await
        .expect("activate");
    assert!(matches!(done, Outcome::Done(_)));
    let seen = recorded(seen).await;
    let put = "PUT /auth/service-accounts/us-1/activate";
    assert_eq!(
        targets(&seen),
        [INIT, ACTION, put, INIT, ACTION, put, INIT, ACTION, put]
    );
    // Each attempt ran the whole flow and used its own token, once.
    let tokens: Vec<_> = seen
        .iter()
        .filter_map(|r| r.header("x-dfns-useraction"))
        .collect();
    assert_eq!(tokens, ["ua-1", "ua-2", "ua-3"]);
    assert_eq!(c.retry_stats().reconciliations, 0, "refusals need no check");
}

#[tokio::test]
async fn a_failure_inside_the_flow_restarts_the_flow() {
    let (base, seen) = serve(vec![
        status(500),
        ok(challenge_json()),
        Reply::Close,
        ok(challenge_json()),
        ok(user_action_json()),
        ok(account_json("us-1", false)),
    ])
    .await;
    let c = retrying_client(&base, fast());
    c.service_accounts()
        .deactivate("us-1", false)
        .await
        .expect("deactivate");
    let seen = recorded(seen).await;
    let put = "PUT /auth/service-accounts/us-1/deactivate";
    assert_eq!(targets(&seen), [INIT, INIT, ACTION, INIT, ACTION, put]);
    let stats = c.retry_stats();
    assert_eq!((stats.attempts, stats.reconciliations), (3, 0));
}

#[tokio::test]
async fn a_500_after_the_work_is_reconciled_not_resent() {
    let mut replies = flow("ua-1", status(500));
    replies.push(ok(account_with("us-1", "bot", true, None)));
    let (base, seen) = serve(replies).await;
    let c = retrying_client(&base, fast());
    let done = c
        .service_accounts()
        .activate("us-1")
        .await
        .expect("activate");
    let account = done.done().expect("done");
    assert!(account.user_info.is_active);
    let seen = recorded(seen).await;
    assert_eq!(
        targets(&seen),
        [
            INIT,
            ACTION,
            "PUT /auth/service-accounts/us-1/activate",
            "GET /auth/service-accounts/us-1"
        ]
    );
    let stats = c.retry_stats();
    assert_eq!((stats.reconciliations, stats.reconciled_applied), (1, 1));
}

#[tokio::test]
async fn a_lost_response_not_in_effect_is_sent_again() {
    let mut replies = flow("ua-1", Reply::Close);
    replies.push(ok(account_with("us-1", "bot", true, None)));
    replies.extend(flow("ua-2", ok(account_with("us-1", "bot", false, None))));
    let (base, seen) = serve(replies).await;
    let c = retrying_client(&base, fast());
    let done = c
        .service_accounts()
        .deactivate("us-1", true)
        .await
        .expect("deactivate");
    assert!(!done.done().expect("done").user_info.is_active);
    let seen = recorded(seen).await;
    let put = "PUT /auth/service-accounts/us-1/deactivate";
    assert_eq!(
        targets(&seen),
        [
            INIT,
            ACTION,
            put,
            "GET /auth/service-accounts/us-1",
            INIT,
            ACTION,
            put
        ]
    );
    assert_eq!(seen[6].header("x-dfns-useraction"), Some("ua-2"));
    assert_eq!(seen[6].body, br#"{"force":true}"#);
    let stats = c.retry_stats();
    assert_eq!((stats.reconciliations, stats.reconciled_applied), (1, 0));
}

#[tokio::test]
async fn a_timeout_after_sending_an_update_is_reconciled() {
    let mut replies = flow("ua-1", Reply::Stall(Duration::from_millis(400)));
    replies.push(ok(account_with("us-1", "renamed", true, Some("ext-9"))));
    let (base, seen) = serve(replies).await;
    let c = DfnsClient::builder(ApiUrl::parse(&base).expect("url"), token())
        .signer(p256_signer())
        .request_timeout(Duration::from_millis(300))
        .retry_policy(fast())
        .build()
        .expect("client");
    let update = UpdateServiceAccount {
        name: Some("renamed".into()),
        external_id: Some("ext-9".into()),
    };
    let done = c
        .service_accounts()
        .update("us-1", &update)
        .await
        .expect("update");
    assert_eq!(done.done().expect("done").user_info.name, "renamed");
    assert_eq!(
        targets(&recorded(seen).await).last().map(String::as_str),
        Some("GET /auth/service-accounts/us-1")
    );
}

#[tokio::test]
async fn an_archive_whose_answer_was_lost_is_done_when_the_account_is_gone() {
    let mut replies = flow("ua-1", status(502));
    replies.push(status(404));
    let (base, seen) = serve(replies).await;
    let c = retrying_client(&base, fast());
    let done = c
        .service_accounts()
        .archive("us-1", false)
        .await
        .expect("archive");
    let account = done.done().expect("done");
    assert_eq!(account.id(), "us-1");
    assert!(!account.user_info.is_active);
    assert_eq!(recorded(seen).await.len(), 4);
}

fn create_request() -> CreateServiceAccount {
    CreateServiceAccount {
        name: "bot".into(),
        public_key: "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n".into(),
        external_id: Some("ext-1".into()),
        ..Default::default()
    }
}

fn assert_token_lost(e: &ApiError, id: &str, matched_by: &str) {
    assert_eq!(e.created_without_token(), Some(id), "{e:?}");
    let msg = e.to_string();
    for words in [
        "SERVICE ACCOUNT CREATED BUT ITS TOKEN WAS LOST",
        &format!("\"bot\" exists (id {id}"),
        &format!("found by {matched_by} after"),
        "cannot be recovered",
        &format!("archive account {id}"),
        "create it again",
    ] {
        assert!(msg.contains(words), "{words:?} missing from: {msg}");
    }
    // The library states the facts; the CLI's hint names the command that archives.
    #[cfg(feature = "cli")]
    {
        let hint = crate::cli::hint_for_api(e).unwrap_or_default();
        assert!(
            hint.contains(&format!("dfns-hsm service-account archive {id}")),
            "{hint}"
        );
    }
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_is_reported_not_repeated() {
    let mut replies = flow("ua-1", Reply::Close);
    let other = account_with("us-other", "someone-else", true, None);
    let ours = account_with("us-ours", "bot", true, Some("ext-1"));
    replies.push(ok(format!(r#"{{"items":[{other},{ours}]}}"#)));
    let (base, seen) = serve(replies).await;
    let c = retrying_client(&base, fast());
    let e = c
        .service_accounts()
        .create(&create_request())
        .await
        .expect_err("token lost");
    assert_token_lost(&e, "us-ours", "name and externalId");
    let seen = recorded(seen).await;
    assert_eq!(
        targets(&seen),
        [
            INIT,
            ACTION,
            "POST /auth/service-accounts",
            "GET /auth/service-accounts"
        ],
        "never sent twice"
    );
    assert_eq!(c.retry_stats().tokens_lost, 1);
}

#[tokio::test]
async fn a_create_that_lands_late_is_found_after_the_409() {
    // The first answer is lost and the account is not there yet; the second attempt gets
    // 409 because the first one landed in the meantime.
    let mut replies = flow("ua-1", status(504));
    replies.push(ok(r#"{"items":[]}"#));
    replies.extend(flow("ua-2", status(409)));
    replies.push(ok(format!(
        r#"{{"items":[{}]}}"#,
        account_with("us-late", "bot", true, None)
    )));
    let (base, seen) = serve(replies).await;
    let c = retrying_client(&base, fast());
    let e = c
        .service_accounts()
        .create(&create_request())
        .await
        .expect_err("token lost");
    assert_token_lost(&e, "us-late", "name");
    assert_eq!(recorded(seen).await.len(), 8);
}

#[tokio::test]
async fn a_409_on_the_first_attempt_is_a_plain_conflict() {
    let (base, seen) = serve(flow("ua-1", status(409))).await;
    let c = retrying_client(&base, fast());
    let e = c
        .service_accounts()
        .create(&create_request())
        .await
        .expect_err("conflict");
    assert_eq!(e.status(), Some(409));
    assert_eq!(recorded(seen).await.len(), 3, "no check without doubt");
}

#[tokio::test]
async fn someone_elses_account_with_our_name_is_not_taken_for_ours() {
    let mut replies = flow("ua-1", Reply::Close);
    let theirs = account_with("us-theirs", "bot", true, Some("ext-other"));
    replies.push(ok(format!(r#"{{"items":[{theirs}]}}"#)));
    replies.extend(flow("ua-2", status(409)));
    replies.push(ok(format!(r#"{{"items":[{theirs}]}}"#)));
    let (base, seen) = serve(replies).await;
    let c = retrying_client(&base, fast());
    let e = c
        .service_accounts()
        .create(&create_request())
        .await
        .expect_err("conflict");
    assert_eq!(e.status(), Some(409), "{e:?}");
    assert!(e.created_without_token().is_none());
    assert_eq!(recorded(seen).await.len(), 8);
}

#[tokio::test]
async fn when_the_check_fails_too_the_outcome_is_unknown() {
    let mut replies = flow("ua-1", status(500));
    replies.push(status(500));
    let (base, seen) = serve(replies).await;
    let c = retrying_client(&base, RetryPolicy::disabled());
    let e = c
        .service_accounts()
        .activate("us-1")
        .await
        .expect_err("unknown");
    assert!(e.is_outcome_unknown(), "{e:?}");
    let msg = e.to_string();
    assert!(msg.starts_with("OUTCOME UNKNOWN: PUT /auth/service-accounts/us-1/activate may or may not have been carried out"), "{msg}");
    assert!(msg.contains("checking its state failed too"), "{msg}");
    assert!(msg.contains("check the resource before retrying"), "{msg}");
    assert_eq!(recorded(seen).await.len(), 4);
    assert_eq!(c.retry_stats().outcome_unknown, 1);
}

#[tokio::test]
async fn a_generic_mutation_is_retried_when_refused_and_never_when_in_doubt() {
    let mut replies = flow("ua-1", status(503));
    replies.extend(flow("ua-2", ok(r#"{"ok":true}"#)));
    replies.extend(flow("ua-3", status(500)));
    let (base, seen) = serve(replies).await;
    let c = retrying_client(&base, fast());
    let body = || Some(RequestBody::from(json!({"network": "Bitcoin"})));
    let done = c
        .call(Method::POST, "/wallets", body())
        .await
        .expect("retried after 503");
    assert!(matches!(done, Outcome::Done(_)));
    let e = c
        .call(Method::POST, "/wallets", body())
        .await
        .expect_err("unknown");
    assert!(e.is_outcome_unknown(), "{e:?}");
    assert!(e.to_string().contains("HTTP 500"), "{e}");
    assert_eq!(recorded(seen).await.len(), 9, "the 500 was not resent");
}

#[tokio::test]
async fn a_generic_read_is_retried_after_a_lost_connection() {
    let (base, seen) = serve(vec![Reply::Close, ok(r#"{"items":[]}"#)]).await;
    let c = retrying_client(&base, fast());
    c.call(Method::GET, "/wallets", None).await.expect("get");
    assert_eq!(recorded(seen).await.len(), 2);
}

#[tokio::test]
async fn nothing_listening_is_retried_then_reported_as_transport() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let c = retrying_client(&format!("http://127.0.0.1:{port}"), fast());
    // Connection refused: certainly not sent, so even a mutation is retried.
    let e = c
        .service_accounts()
        .activate("us-1")
        .await
        .expect_err("refused");
    assert!(
        matches!(e, ApiError::RetriesExhausted { attempts: 4, .. }),
        "{e:?}"
    );
    assert!(e.is_transport());
    assert_eq!(c.retry_stats().reconciliations, 0);
}
