//! Fault injection: refusals happen before any work, lost responses after it, both
//! reproducibly from a seed, and `/_emulator/stats` tells what happened.

mod support;

use std::process::Command;
use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{code, run_to_exit, Emu, Identity};

/// A signed request whose transport failure is returned instead of panicking.
async fn signed_raw(
    emu: &Emu,
    client: &reqwest::Client,
    id: &Identity,
    method: Method,
    path: &str,
    body: &str,
) -> Result<(StatusCode, HeaderMap, Value), reqwest::Error> {
    let ua = emu.user_action(id, method.as_str(), path, body).await;
    let mut req = client
        .request(method, format!("{}{path}", emu.url))
        .header("authorization", format!("Bearer {}", id.token))
        .header("x-dfns-useraction", ua);
    if !body.is_empty() {
        req = req
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    let resp = req.send().await?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await?;
    Ok((
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    ))
}

async fn stats(emu: &Emu) -> Value {
    let v: Value = emu
        .http
        .get(format!("{}/_emulator/stats", emu.url))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("stats json");
    v
}

async fn names(emu: &Emu, admin: &Identity) -> Vec<String> {
    let (status, v) = emu.get("/auth/service-accounts", &admin.token).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|a| a["userInfo"]["name"].as_str().expect("name").to_owned())
        .collect()
}

fn create_body(name: &str) -> String {
    json!({"name": name, "publicKey": support::TestKey::p256().public_pem()}).to_string()
}

#[tokio::test]
async fn refusals_come_before_any_work_and_some_carry_retry_after() {
    let emu = Emu::start(&[
        "--fail-rate",
        "1",
        "--fail-status",
        "429",
        "--fail-status",
        "503",
        "--fail-retry-after",
        "7",
        "--fail-route",
        "POST /auth/service-accounts",
        "--fail-seed",
        "11",
    ]);
    let admin = emu.admin();
    let client = reqwest::Client::new();
    let (mut seconds, mut dates, mut statuses) = (0, 0, Vec::new());
    for i in 0..40 {
        let body = create_body(&format!("refused-{i}"));
        let (status, headers, v) = signed_raw(
            &emu,
            &client,
            &admin,
            Method::POST,
            "/auth/service-accounts",
            &body,
        )
        .await
        .expect("an answer");
        assert!(
            status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE,
            "{status}"
        );
        assert_eq!(code(&v), "injected_fault", "{v}");
        assert_eq!(v["error"]["status"], status.as_u16());
        statuses.push(status);
        if let Some(ra) = headers.get("retry-after") {
            let ra = ra.to_str().expect("ascii");
            if ra == "7" {
                seconds += 1;
            } else {
                let when = httpdate::parse_http_date(ra).expect("an HTTP date");
                let ahead = when
                    .duration_since(SystemTime::now())
                    .unwrap_or(Duration::ZERO);
                assert!(ahead <= Duration::from_secs(7), "{ra}");
                dates += 1;
            }
        }
    }
    assert!(statuses.contains(&StatusCode::TOO_MANY_REQUESTS));
    assert!(statuses.contains(&StatusCode::SERVICE_UNAVAILABLE));
    assert!(seconds > 0 && dates > 0, "seconds {seconds}, dates {dates}");
    assert!(seconds + dates < 40, "only some refusals carry Retry-After");
    // Nothing was created, and the other routes were never refused (the flow above worked).
    assert!(names(&emu, &admin).await.is_empty());
    let s = stats(&emu).await;
    assert_eq!(
        s["refused"]["429"].as_u64().unwrap_or(0) + s["refused"]["503"].as_u64().unwrap_or(0),
        40,
        "{s}"
    );
    assert_eq!(s["retryAfterSent"], seconds + dates);
    assert_eq!(s["committed"], json!([]));
    assert_eq!(s["seed"], 11);
}

#[tokio::test]
async fn lost_responses_come_after_the_work_is_committed() {
    let emu = Emu::start(&[
        "--drop-response-rate",
        "1",
        "--drop-response-mode",
        "close",
        "--drop-response-mode",
        "500",
        "--drop-response-route",
        "POST /auth/service-accounts",
        "--fail-seed",
        "5",
    ]);
    let admin = emu.admin();
    let client = reqwest::Client::new();
    let (mut closed, mut errors) = (0, 0);
    for i in 0..12 {
        let name = format!("kept-{i}");
        match signed_raw(
            &emu,
            &client,
            &admin,
            Method::POST,
            "/auth/service-accounts",
            &create_body(&name),
        )
        .await
        {
            Err(_) => closed += 1,
            Ok((status, _, v)) => {
                assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{v}");
                assert!(v["accessTokens"].is_null(), "the token must be lost: {v}");
                errors += 1;
            }
        }
        // Whatever the client saw, the account exists, once.
        let names = names(&emu, &admin).await;
        assert_eq!(names.iter().filter(|n| **n == name).count(), 1, "{names:?}");
    }
    assert!(closed > 0 && errors > 0, "closed {closed}, errors {errors}");
    let s = stats(&emu).await;
    assert_eq!(s["dropped"]["close"], closed, "{s}");
    assert_eq!(s["dropped"]["500"], errors, "{s}");
    let committed = s["committed"].as_array().expect("journal");
    assert_eq!(committed.len(), 12);
    assert!(committed.iter().all(|c| c["op"] == "ServiceAccounts:Create"
        && c["serviceAccountId"]
            .as_str()
            .is_some_and(|i| i.starts_with("us-"))));
}

#[tokio::test]
async fn a_hung_response_times_out_after_the_work() {
    let emu = Emu::start(&[
        "--drop-response-rate",
        "1",
        "--drop-response-mode",
        "hang",
        "--drop-response-route",
        "PUT /auth/service-accounts/",
    ]);
    let admin = emu.admin();
    let (created, _) = emu
        .create_sa(&admin, "hung", support::TestKey::p256())
        .await;
    let id = created["userInfo"]["userId"].as_str().expect("id");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .expect("client");
    let path = format!("/auth/service-accounts/{id}/deactivate");
    let e = signed_raw(&emu, &client, &admin, Method::PUT, &path, "")
        .await
        .expect_err("no answer");
    assert!(e.is_timeout(), "{e}");
    let (status, v) = emu
        .get(&format!("/auth/service-accounts/{id}"), &admin.token)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        v["userInfo"]["isActive"], false,
        "deactivated before hanging"
    );
    assert_eq!(stats(&emu).await["dropped"]["hang"], 1);
}

#[tokio::test]
async fn the_same_seed_gives_the_same_faults() {
    let mut runs = Vec::new();
    for _ in 0..2 {
        let emu = Emu::start(&["--fail-rate", "0.5", "--fail-seed", "99"]);
        let token = std::fs::read_to_string(emu.dir.join("admin.token")).expect("token");
        let mut seen = Vec::new();
        for _ in 0..30 {
            let (status, _) = emu.get("/auth/service-accounts", token.trim()).await;
            seen.push(status.as_u16());
        }
        assert!(
            seen.contains(&200) && seen.iter().any(|s| *s != 200),
            "{seen:?}"
        );
        runs.push(seen);
    }
    assert_eq!(runs[0], runs[1]);
}

#[tokio::test]
async fn without_faults_nothing_is_injected() {
    let emu = Emu::start(&[]);
    let admin = emu.admin();
    for _ in 0..20 {
        let (status, _) = emu.get("/auth/service-accounts", &admin.token).await;
        assert_eq!(status, StatusCode::OK);
    }
    let s = stats(&emu).await;
    assert_eq!(s["refused"], json!({}));
    assert_eq!(s["dropped"], json!({}));
    assert_eq!(s["requests"], 20, "stats requests are not counted");
}

#[test]
fn fault_options_are_checked_and_documented() {
    for (args, words) in [
        (vec!["--fail-rate", "1.5"], "--fail-rate must be a fraction"),
        (vec!["--drop-response-rate=-0.1"], "--drop-response-rate"),
        (vec!["--fail-status", "404"], "--fail-status 404"),
        (vec!["--drop-response-mode", "explode"], "not a drop mode"),
        (vec!["--fail-route", "auth"], "PATH_PREFIX"),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut all = vec!["--state-dir", dir.path().to_str().expect("utf8")];
        all.extend(args.iter().copied());
        let (ok, stderr) = run_to_exit(&all);
        assert!(!ok, "{args:?} accepted");
        assert!(stderr.contains(words), "{args:?}: {stderr}");
    }
    let help = Command::new(env!("CARGO_BIN_EXE_dfns-emulator"))
        .arg("--help")
        .output()
        .expect("help");
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--fail-rate",
        "--fail-status",
        "--fail-retry-after",
        "--fail-route",
        "--fail-seed",
        "--drop-response-rate",
        "--drop-response-mode",
        "--drop-response-route",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
}
