//! The `X-DFNS-USERACTION` check on mutating endpoints, and bearer-token authentication.

mod support;

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use support::{code, Emu, TestKey};

const SAS: &str = "/auth/service-accounts";

fn create_body(name: &str) -> String {
    json!({ "name": name, "publicKey": TestKey::p256().public_pem() }).to_string()
}

#[tokio::test]
async fn user_action_is_single_use() {
    let emu = Emu::start(&[]);
    let admin = emu.admin();
    let body = create_body("once");
    let ua = emu.user_action(&admin, "POST", SAS, &body).await;
    let (s, v) = emu
        .send(
            Method::POST,
            SAS,
            Some(&admin.token),
            Some(&ua),
            Some(&body),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = emu
        .send(
            Method::POST,
            SAS,
            Some(&admin.token),
            Some(&ua),
            Some(&body),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(code(&v), "user_action_replayed");
}

#[tokio::test]
async fn missing_and_garbage_user_actions_are_403() {
    let emu = Emu::start(&[]);
    let admin = emu.admin();
    let body = create_body("x");
    let (s, v) = emu
        .send(Method::POST, SAS, Some(&admin.token), None, Some(&body))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(code(&v), "user_action_missing");
    let (s, v) = emu
        .send(
            Method::POST,
            SAS,
            Some(&admin.token),
            Some("nonsense"),
            Some(&body),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(code(&v), "user_action_invalid");
    // A bearer token is not a user-action token.
    let (s, v) = emu
        .send(
            Method::POST,
            SAS,
            Some(&admin.token),
            Some(&admin.token),
            Some(&body),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(code(&v), "user_action_invalid");
}

#[tokio::test]
async fn payload_must_match_the_body() {
    let emu = Emu::start(&[]);
    let admin = emu.admin();
    let signed = create_body("signed");
    let other = create_body("other");
    let ua = emu.user_action(&admin, "POST", SAS, &signed).await;
    let (s, v) = emu
        .send(
            Method::POST,
            SAS,
            Some(&admin.token),
            Some(&ua),
            Some(&other),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(code(&v), "user_action_payload_mismatch");

    // Same JSON value, different bytes (key order, spacing): accepted.
    let value: serde_json::Value = serde_json::from_str(&signed).unwrap();
    let reordered = format!(
        "{{ \"publicKey\": {}, \"name\": \"signed\" }}",
        serde_json::to_string(&value["publicKey"]).unwrap()
    );
    assert_ne!(reordered, signed);
    let ua = emu.user_action(&admin, "POST", SAS, &signed).await;
    let (s, v) = emu
        .send(
            Method::POST,
            SAS,
            Some(&admin.token),
            Some(&ua),
            Some(&reordered),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn empty_body_matches_only_the_empty_payload() {
    let emu = Emu::start(&[]);
    let admin = emu.admin();
    let (created, _) = emu.create_sa(&admin, "empty", TestKey::p256()).await;
    let id = created["userInfo"]["userId"].as_str().unwrap();
    let path = format!("{SAS}/{id}/activate");
    // Signed "{}" but sent no body.
    let ua = emu.user_action(&admin, "PUT", &path, "{}").await;
    let (s, v) = emu
        .send(Method::PUT, &path, Some(&admin.token), Some(&ua), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(code(&v), "user_action_payload_mismatch");
    // Signed "" and sent no body (Go SDK style); signed "{}" and sent {} (TS SDK style).
    let (s, v) = emu.signed(&admin, Method::PUT, &path, "").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = emu.signed(&admin, Method::PUT, &path, "{}").await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn user_action_is_bound_to_method_and_path() {
    let emu = Emu::start(&[]);
    let admin = emu.admin();
    let (created, _) = emu.create_sa(&admin, "bound", TestKey::p256()).await;
    let id = created["userInfo"]["userId"].as_str().unwrap();

    // Signed for /activate, used on /deactivate.
    let ua = emu
        .user_action(&admin, "PUT", &format!("{SAS}/{id}/activate"), "{}")
        .await;
    let (s, v) = emu
        .send(
            Method::PUT,
            &format!("{SAS}/{id}/deactivate"),
            Some(&admin.token),
            Some(&ua),
            Some("{}"),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(code(&v), "user_action_wrong_path");

    // Signed for PUT, used with DELETE on the same path.
    let path = format!("{SAS}/{id}");
    let ua = emu.user_action(&admin, "PUT", &path, "").await;
    let (s, v) = emu
        .send(Method::DELETE, &path, Some(&admin.token), Some(&ua), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(code(&v), "user_action_wrong_method");

    // The signed path never includes the query string (Go-style signing fails).
    let ua = emu
        .user_action(&admin, "DELETE", &format!("{path}?force=true"), "")
        .await;
    let (s, v) = emu
        .send(
            Method::DELETE,
            &format!("{path}?force=true"),
            Some(&admin.token),
            Some(&ua),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(code(&v), "user_action_wrong_path");
    let (s, v) = emu
        .signed(&admin, Method::DELETE, &format!("{path}?force=true"), "")
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn user_action_of_another_caller_is_rejected() {
    let emu = Emu::start(&[]);
    let admin = emu.admin();
    let (created, sa) = emu.create_sa(&admin, "thief", TestKey::p256()).await;
    let id = created["userInfo"]["userId"].as_str().unwrap();
    let path = format!("{SAS}/{id}");
    let body = json!({ "name": "renamed" }).to_string();
    let ua = emu.user_action(&admin, "PUT", &path, &body).await;
    let (s, v) = emu
        .send(Method::PUT, &path, Some(&sa.token), Some(&ua), Some(&body))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(code(&v), "user_action_wrong_caller");
}

#[tokio::test]
async fn user_action_expires() {
    let emu = Emu::start(&["--user-action-ttl-secs", "1"]);
    let admin = emu.admin();
    let body = create_body("late");
    let ua = emu.user_action(&admin, "POST", SAS, &body).await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let (s, v) = emu
        .send(
            Method::POST,
            SAS,
            Some(&admin.token),
            Some(&ua),
            Some(&body),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(code(&v), "user_action_expired");
}

#[tokio::test]
async fn bearer_token_is_required_and_checked() {
    let emu = Emu::start(&[]);
    let admin = emu.admin();
    let (s, v) = emu.send(Method::GET, SAS, None, None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(code(&v), "token_missing");
    let (s, v) = emu.get(SAS, "not.a.jwt").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(code(&v), "token_invalid");
    // Tampered token: change a character inside the signature.
    let mut chars: Vec<char> = admin.token.chars().collect();
    let i = chars.len() - 10;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    let forged: String = chars.into_iter().collect();
    let (s, v) = emu.get(SAS, &forged).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(code(&v), "token_invalid");
    let (s, v) = emu
        .send(Method::POST, "/auth/action/init", None, None, Some("{}"))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    // The real token works.
    let (s, _) = emu.get(SAS, &admin.token).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn expired_admin_token_is_401() {
    let emu = Emu::start(&["--admin-token-ttl-secs", "0"]);
    let admin = emu.admin();
    let (s, v) = emu.get(SAS, &admin.token).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(code(&v), "token_expired");
}

#[tokio::test]
async fn admin_token_carries_the_org_where_the_sdk_reads_it() {
    use base64::Engine as _;
    let emu = Emu::start(&[]);
    let admin = emu.admin();
    let payload = admin.token.split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    let org = claims["https://custom/app_metadata"]["orgId"]
        .as_str()
        .unwrap();
    assert!(org.starts_with("or-"), "{claims}");
    assert!(claims["exp"].as_u64().unwrap() > claims["iat"].as_u64().unwrap());
    let (created, _) = emu.create_sa(&admin, "org-check", TestKey::p256()).await;
    assert_eq!(created["userInfo"]["orgId"], json!(org));
}
