//! Service-account endpoints: lifecycle, validation, permissions, approvals, persistence.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{code, Emu, Identity, TestKey};

const SAS: &str = "/auth/service-accounts";

fn user_id(v: &Value) -> String {
    v["userInfo"]["userId"].as_str().expect("userId").to_owned()
}

async fn create_status(emu: &Emu, admin: &Identity, body: Value) -> (StatusCode, Value) {
    emu.signed(admin, Method::POST, SAS, &body.to_string())
        .await
}

#[tokio::test]
async fn lifecycle_and_response_shape() {
    let emu = Emu::start(&[]);
    let admin = emu.admin();
    let key = TestKey::p256();
    let pem = key.public_pem();
    let pm = emu
        .create_permission(&admin, "ops-bot-reader", &["Auth:ServiceAccounts:Read"])
        .await;
    let body = json!({
        "name": "ops-bot", "publicKey": pem, "daysValid": 30,
        "permissionId": pm, "externalId": "ext-1"
    });
    let (s, created) = create_status(&emu, &admin, body).await;
    assert_eq!(s, StatusCode::OK, "{created}");
    let id = user_id(&created);
    let re = regex::Regex::new("^us-[a-z0-9]{5}-[a-z0-9]{5}-[a-z0-9]{14,16}$").unwrap();
    assert!(re.is_match(&id), "{id}");
    let info = &created["userInfo"];
    assert_eq!(info["kind"], "CustomerEmployee");
    assert_eq!(info["isServiceAccount"], true);
    assert_eq!(info["isActive"], true);
    assert_eq!(info["name"], "ops-bot");
    assert_eq!(info["permissionAssignments"][0]["permissionId"], json!(pm));
    assert_eq!(
        info["permissionAssignments"][0]["permissionName"],
        "ops-bot-reader"
    );
    assert_eq!(
        info["permissionAssignments"][0]["operations"],
        json!(["Auth:ServiceAccounts:Read"])
    );
    let token = &created["accessTokens"][0];
    assert_eq!(token["kind"], "ServiceAccount");
    assert_eq!(token["isActive"], true);
    assert_eq!(token["linkedUserId"], json!(id));
    assert_eq!(token["publicKey"], json!(pem));
    assert!(token["tokenId"].as_str().unwrap().starts_with("to-"));
    for field in [
        "dateCreated",
        "credId",
        "linkedAppId",
        "name",
        "orgId",
        "permissionAssignments",
    ] {
        assert!(
            !token[field].is_null(),
            "accessTokens[0].{field} missing: {token}"
        );
    }
    assert!(token["accessToken"]
        .as_str()
        .is_some_and(|t| t.split('.').count() == 3));

    // list and get never show the accessToken.
    let (s, list) = emu.get(SAS, &admin.token).await;
    assert_eq!(s, StatusCode::OK);
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(user_id(&items[0]), id);
    assert!(items[0]["accessTokens"][0].get("accessToken").is_none());
    let (s, got) = emu.get(&format!("{SAS}/{id}"), &admin.token).await;
    assert_eq!(s, StatusCode::OK);
    assert!(got["accessTokens"][0].get("accessToken").is_none());
    assert_eq!(got["accessTokens"][0]["credId"], token["credId"]);

    // update
    let (s, upd) = emu
        .signed(
            &admin,
            Method::PUT,
            &format!("{SAS}/{id}"),
            r#"{"name":"ops-bot-2"}"#,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{upd}");
    assert_eq!(upd["userInfo"]["name"], "ops-bot-2");

    // unknown id
    let (s, v) = emu.get(&format!("{SAS}/us-nope"), &admin.token).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(code(&v), "service_account_not_found");
    // The admin (id from its token's `sub`) is a user, not a service account.
    use base64::Engine as _;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(admin.token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    let admin_id = claims["sub"].as_str().unwrap();
    assert!(admin_id.starts_with("us-"));
    let (s, _) = emu.get(&format!("{SAS}/{admin_id}"), &admin.token).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn deactivate_activate_archive_control_authentication() {
    let emu = Emu::start(&[]);
    let admin = emu.admin();
    let (created, sa) = emu
        .create_sa_granted(
            &admin,
            "bot",
            TestKey::ed25519(),
            &[
                "Auth:ServiceAccounts:Read",
                "Auth:ServiceAccounts:Deactivate",
            ],
        )
        .await;
    let id = user_id(&created);
    let (s, _) = emu.get(SAS, &sa.token).await;
    assert_eq!(s, StatusCode::OK);

    // The account deactivates itself with its own signature (proof of enrollment).
    let (s, v) = emu
        .signed(&sa, Method::PUT, &format!("{SAS}/{id}/deactivate"), "{}")
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["userInfo"]["isActive"], false);
    assert_eq!(v["accessTokens"][0]["isActive"], false);
    let (s, v) = emu.get(SAS, &sa.token).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(code(&v), "user_deactivated");

    // The admin activates it again; its token works again.
    let (s, v) = emu
        .signed(&admin, Method::PUT, &format!("{SAS}/{id}/activate"), "{}")
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["userInfo"]["isActive"], true);
    let (s, _) = emu.get(SAS, &sa.token).await;
    assert_eq!(s, StatusCode::OK);

    // Archive: gone from list/get, token dead, name free again.
    let (s, v) = emu
        .signed(&admin, Method::DELETE, &format!("{SAS}/{id}"), "")
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["userInfo"]["isActive"], false);
    let (s, v) = emu.get(SAS, &sa.token).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(code(&v), "token_revoked");
    let (s, _) = emu.get(&format!("{SAS}/{id}"), &admin.token).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, list) = emu.get(SAS, &admin.token).await;
    assert!(list["items"].as_array().unwrap().is_empty());
    let (s, v) = emu
        .signed(&admin, Method::PUT, &format!("{SAS}/{id}/activate"), "{}")
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    emu.create_sa(&admin, "bot", TestKey::p256()).await;
}

#[tokio::test]
async fn only_org_users_create_service_accounts() {
    let emu = Emu::start(&[]);
    let admin = emu.admin();
    let (_, sa) = emu.create_sa(&admin, "first", TestKey::k256()).await;
    let body = json!({ "name": "second", "publicKey": TestKey::p256().public_pem() });
    let (s, v) = create_status(&emu, &sa, body).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(code(&v), "caller_not_allowed");
    let (_, list) = emu.get(SAS, &admin.token).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn create_validation() {
    let emu = Emu::start(&[]);
    let admin = emu.admin();
    let pem = TestKey::p256().public_pem();

    let (s, v) = create_status(&emu, &admin, json!({"name": "dup", "publicKey": pem})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = create_status(&emu, &admin, json!({"name": "dup", "publicKey": pem})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(code(&v), "name_conflict");

    let cases = [
        (
            json!({"name": "a", "publicKey": "not a pem"}),
            "invalid_public_key",
        ),
        (
            json!({"name": "a", "publicKey": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"}),
            "invalid_public_key",
        ),
        (
            json!({"name": "a", "publicKey": pem, "daysValid": 0}),
            "invalid_body",
        ),
        (
            json!({"name": "a", "publicKey": pem, "daysValid": 731}),
            "invalid_body",
        ),
        (
            json!({"name": "a", "publicKey": pem, "daysValid": 1.5}),
            "invalid_body",
        ),
        (json!({"name": "", "publicKey": pem}), "invalid_body"),
        (
            json!({"name": "a", "publicKey": pem, "role": "admin"}),
            "invalid_body",
        ),
        (json!({"publicKey": pem}), "invalid_body"),
    ];
    for (body, want) in cases {
        let (s, v) = create_status(&emu, &admin, body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body} -> {v}");
        assert_eq!(code(&v), want, "{body} -> {v}");
        assert!(v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
        assert_eq!(v["error"]["status"], 400);
        assert!(v["error"]["id"].as_str().is_some());
    }
    let (s, v) = create_status(
        &emu,
        &admin,
        json!({"name": "edge", "publicKey": pem, "daysValid": 730}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = create_status(
        &emu,
        &admin,
        json!({"name": "edge1", "publicKey": pem, "daysValid": 1}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");

    // A PKCS#1 "RSA PUBLIC KEY" is accepted too.
    let TestKey::Rsa(rsa_key) = TestKey::rsa() else {
        unreachable!()
    };
    let pkcs1 = rsa::pkcs1::EncodeRsaPublicKey::to_pkcs1_pem(
        &rsa_key.to_public_key(),
        rsa::pkcs8::LineEnding::LF,
    )
    .unwrap();
    assert!(pkcs1.starts_with("-----BEGIN RSA PUBLIC KEY-----"));
    let (s, v) = create_status(&emu, &admin, json!({"name": "pkcs1", "publicKey": pkcs1})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn malformed_requests_get_json_errors() {
    let emu = Emu::start(&[]);
    let admin = emu.admin();
    let (s, v) = emu.signed(&admin, Method::POST, SAS, "{not json").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(code(&v), "malformed_json");
    let (s, v) = emu
        .send(
            Method::POST,
            "/auth/action/init",
            Some(&admin.token),
            None,
            Some("[1,2"),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(code(&v), "malformed_json");

    let big = format!(
        "{{\"userActionPayload\":\"{}\"}}",
        "a".repeat(2 * 1024 * 1024)
    );
    // On its own connection: the server answers 413 without reading the rest of the body and
    // closes the connection, which a pooled client could otherwise reuse for the next request
    // (hyper IncompleteMessage, a flaky failure of the next request, not of this check).
    let resp = reqwest::Client::new()
        .post(format!("{}/auth/action/init", emu.url))
        .header("authorization", format!("Bearer {}", admin.token))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    let s = resp.status();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert_eq!(code(&v), "body_too_large");

    let resp = emu
        .http
        .post(format!("{}/auth/action/init", emu.url))
        .header("authorization", format!("Bearer {}", admin.token))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(code(&v), "unsupported_media_type");

    let (s, v) = emu.get("/auth/wallets", &admin.token).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(code(&v), "route_not_found");
    let (s, v) = emu
        .send(Method::PATCH, SAS, Some(&admin.token), None, None)
        .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED, "{v}");
    assert_eq!(v["error"]["status"], 405);
}

#[tokio::test]
async fn approval_required_answers_202_unless_forced() {
    let emu = Emu::start(&[
        "--approval-required",
        "ServiceAccounts:Deactivate",
        "--approval-required",
        "ServiceAccounts:Archive",
        "--approval-required",
        "ServiceAccounts:Update",
    ]);
    let admin = emu.admin();
    let (created, sa) = emu
        .create_sa_granted(
            &admin,
            "gated",
            TestKey::p256(),
            &["Auth:ServiceAccounts:Read"],
        )
        .await;
    let id = user_id(&created);

    let (s, v) = emu
        .signed(&admin, Method::PUT, &format!("{SAS}/{id}/deactivate"), "{}")
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["status"], "Pending");
    assert_eq!(v["activity"]["kind"], "ServiceAccounts:Deactivate");
    assert!(v["id"].as_str().unwrap().starts_with("ap-"));
    let (s, _) = emu.get(SAS, &sa.token).await;
    assert_eq!(
        s,
        StatusCode::OK,
        "a pending deactivation must not take effect"
    );

    let (s, v) = emu
        .signed(
            &admin,
            Method::PUT,
            &format!("{SAS}/{id}"),
            r#"{"name":"x"}"#,
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let (_, got) = emu.get(&format!("{SAS}/{id}"), &admin.token).await;
    assert_eq!(got["userInfo"]["name"], "gated");

    let (s, v) = emu
        .signed(&admin, Method::DELETE, &format!("{SAS}/{id}"), "")
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["activity"]["kind"], "ServiceAccounts:Archive");

    let (s, v) = emu
        .signed(
            &admin,
            Method::PUT,
            &format!("{SAS}/{id}/deactivate"),
            r#"{"force":true}"#,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["userInfo"]["isActive"], false);
    let (s, v) = emu
        .signed(
            &admin,
            Method::DELETE,
            &format!("{SAS}/{id}?force=true"),
            "",
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = emu.get(&format!("{SAS}/{id}"), &admin.token).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn expired_service_account_token_is_401() {
    let emu = Emu::start(&["--token-ttl-secs-override", "0"]);
    let admin = emu.admin();
    let (_, sa) = emu.create_sa(&admin, "short", TestKey::p256()).await;
    let (s, v) = emu.get(SAS, &sa.token).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(code(&v), "token_expired");
    let (s, _) = emu.get(SAS, &admin.token).await;
    assert_eq!(s, StatusCode::OK, "the admin token is not affected");
}

#[tokio::test]
async fn restart_keeps_state() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state");
    let mut emu = Emu::start_in(&dir, &[]);
    let admin = emu.admin();
    let key_before = std::fs::read(dir.join("admin.key.pem")).unwrap();
    let secret_before = std::fs::read_to_string(dir.join("state.json")).unwrap();
    let (created, sa) = emu
        .create_sa_granted(
            &admin,
            "survivor",
            TestKey::ed25519(),
            &["Auth:ServiceAccounts:Update"],
        )
        .await;
    let id = user_id(&created);
    let (s, _) = emu
        .signed(&admin, Method::PUT, &format!("{SAS}/{id}/deactivate"), "")
        .await;
    assert_eq!(s, StatusCode::OK);
    emu.stop();
    drop(emu);

    let emu = Emu::start_in(&dir, &[]);
    assert_eq!(
        std::fs::read(dir.join("admin.key.pem")).unwrap(),
        key_before
    );
    assert_eq!(
        emu.admin().token,
        admin.token,
        "a valid admin token is kept"
    );
    assert!(secret_before.contains("tokenKey"));
    let (s, got) = emu.get(&format!("{SAS}/{id}"), &admin.token).await;
    assert_eq!(s, StatusCode::OK, "{got}");
    assert_eq!(got["userInfo"]["isActive"], false);
    // The old service-account token is still signed by the same key: deactivated, not invalid.
    let (s, v) = emu.get(SAS, &sa.token).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&v), "user_deactivated");
    let (s, _) = emu
        .signed(&admin, Method::PUT, &format!("{SAS}/{id}/activate"), "")
        .await;
    assert_eq!(s, StatusCode::OK);
    // Its key still signs for it after the restart.
    let (s, v) = emu
        .signed(
            &sa,
            Method::PUT,
            &format!("{SAS}/{id}"),
            r#"{"externalId":"after-restart"}"#,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}
