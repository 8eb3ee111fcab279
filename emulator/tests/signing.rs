//! `/auth/action/init` + `/auth/action`: real signature verification for every algorithm and
//! the ways an assertion can be wrong.

mod support;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde_json::json;
use support::{code, sorted_client_data, ts_client_data, Emu, TestKey};

/// Create a service account with `key`, then have it update itself with a signed request.
async fn full_flow_as_service_account(key: TestKey, name: &str) {
    let emu = Emu::start(&[]);
    let admin = emu.admin();
    let (created, sa) = emu
        .create_sa_granted(&admin, name, key, &["Auth:ServiceAccounts:Update"])
        .await;
    let id = created["userInfo"]["userId"]
        .as_str()
        .expect("userId")
        .to_owned();
    let body = json!({ "externalId": format!("ext-{name}") }).to_string();
    let (status, v) = emu
        .signed(
            &sa,
            Method::PUT,
            &format!("/auth/service-accounts/{id}"),
            &body,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["userInfo"]["externalId"], json!(format!("ext-{name}")));
}

#[tokio::test]
async fn p256_full_flow() {
    full_flow_as_service_account(TestKey::p256(), "p256").await;
}

#[tokio::test]
async fn secp256k1_full_flow() {
    full_flow_as_service_account(TestKey::k256(), "k256").await;
}

#[tokio::test]
async fn ed25519_full_flow() {
    full_flow_as_service_account(TestKey::ed25519(), "ed25519").await;
}

#[tokio::test]
async fn rsa_full_flow() {
    full_flow_as_service_account(TestKey::rsa(), "rsa").await;
}

#[tokio::test]
async fn assertion_failures_are_rejected() {
    let emu = Emu::start(&[]);
    let admin = emu.admin();
    let path = "/auth/service-accounts";

    // Raw r||s (what PKCS#11 returns) is not DER: rejected.
    let ch = emu.init(&admin, "POST", path, "{}").await;
    let cd = sorted_client_data(ch["challenge"].as_str().unwrap());
    let raw = admin.key.sign_raw_ecdsa(&cd);
    assert_eq!(raw.len(), 64);
    let (s, v) = emu.answer(&admin, &ch, &cd, &raw).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(code(&v), "signature_malformed");
    assert!(v["error"]["message"].as_str().unwrap().contains("DER"));

    // A DER signature by another key: does not verify.
    let ch = emu.init(&admin, "POST", path, "{}").await;
    let cd = sorted_client_data(ch["challenge"].as_str().unwrap());
    let sig = TestKey::p256().sign(&cd);
    let (s, v) = emu.answer(&admin, &ch, &cd, &sig).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(code(&v), "signature_invalid");

    // A valid signature over different bytes than the clientData sent.
    let ch = emu.init(&admin, "POST", path, "{}").await;
    let cd = sorted_client_data(ch["challenge"].as_str().unwrap());
    let sig = admin.key.sign(b"something else");
    let (s, v) = emu.answer(&admin, &ch, &cd, &sig).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(code(&v), "signature_invalid");

    // Wrong credId.
    let ch = emu.init(&admin, "POST", path, "{}").await;
    let cd = sorted_client_data(ch["challenge"].as_str().unwrap());
    let sig = admin.key.sign(&cd);
    let (s, v) = emu
        .complete(
            &admin,
            ch["challengeIdentifier"].as_str().unwrap(),
            "not-my-cred",
            &cd,
            &sig,
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(code(&v), "credential_not_allowed");

    // clientData naming another challenge, correctly signed.
    let ch = emu.init(&admin, "POST", path, "{}").await;
    let cd = sorted_client_data("Y2gtb3RoZXI");
    let sig = admin.key.sign(&cd);
    let (s, v) = emu.answer(&admin, &ch, &cd, &sig).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(code(&v), "client_data_challenge_mismatch");

    // clientData of the wrong type (key.create is for registration).
    let ch = emu.init(&admin, "POST", path, "{}").await;
    let challenge = ch["challenge"].as_str().unwrap();
    let cd = serde_json::to_vec(&json!({"challenge": challenge, "type": "key.create"})).unwrap();
    let sig = admin.key.sign(&cd);
    let (s, v) = emu.answer(&admin, &ch, &cd, &sig).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(code(&v), "client_data_invalid");
}

#[tokio::test]
async fn challenge_is_single_use() {
    let emu = Emu::start(&[]);
    let admin = emu.admin();
    let ch = emu
        .init(&admin, "POST", "/auth/service-accounts", "{}")
        .await;
    let ident = ch["challengeIdentifier"].as_str().unwrap();
    let cd = sorted_client_data(ch["challenge"].as_str().unwrap());
    let sig = admin.key.sign(&cd);
    let (s, v) = emu.complete(&admin, ident, &admin.cred_id, &cd, &sig).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["userAction"].as_str().is_some_and(|t| !t.is_empty()));
    let (s, v) = emu.complete(&admin, ident, &admin.cred_id, &cd, &sig).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(code(&v), "challenge_used");
}

#[tokio::test]
async fn challenge_expires() {
    let emu = Emu::start(&["--challenge-ttl-secs", "1"]);
    let admin = emu.admin();
    let ch = emu
        .init(&admin, "POST", "/auth/service-accounts", "{}")
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    let cd = sorted_client_data(ch["challenge"].as_str().unwrap());
    let sig = admin.key.sign(&cd);
    let (s, v) = emu.answer(&admin, &ch, &cd, &sig).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(code(&v), "challenge_expired");
}

#[tokio::test]
async fn challenge_of_another_caller_is_rejected() {
    let emu = Emu::start(&[]);
    let admin = emu.admin();
    let (_, sa) = emu.create_sa(&admin, "other", TestKey::ed25519()).await;
    let ch = emu
        .init(&admin, "POST", "/auth/service-accounts", "{}")
        .await;
    let cd = sorted_client_data(ch["challenge"].as_str().unwrap());
    let sig = sa.key.sign(&cd);
    let (s, v) = emu.answer(&sa, &ch, &cd, &sig).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(code(&v), "challenge_wrong_caller");
}

#[tokio::test]
async fn official_sdk_client_data_shapes_are_accepted() {
    let emu = Emu::start(&[]);
    let admin = emu.admin();
    let ch = emu
        .init(&admin, "POST", "/auth/service-accounts", "{}")
        .await;
    let challenge = ch["challenge"].as_str().unwrap().to_owned();
    // The TS SDK's order: type first.
    let cd = ts_client_data(&challenge);
    assert!(cd.starts_with(br#"{"type""#));
    let sig = admin.key.sign(&cd);
    let (s, v) = emu.answer(&admin, &ch, &cd, &sig).await;
    assert_eq!(s, StatusCode::OK, "{v}");

    // Python's shape with origin/crossOrigin, sent with base64 padding.
    let ch = emu
        .init(&admin, "POST", "/auth/service-accounts", "{}")
        .await;
    let challenge = ch["challenge"].as_str().unwrap().to_owned();
    let cd = format!(
        r#"{{"type":"key.get","challenge":"{challenge}","origin":"https://app.dfns.io","crossOrigin":false}}"#
    )
    .into_bytes();
    let sig = admin.key.sign(&cd);
    let padded = base64::engine::general_purpose::URL_SAFE.encode(&cd);
    let body = json!({
        "challengeIdentifier": ch["challengeIdentifier"],
        "firstFactor": {"kind": "Key", "credentialAssertion": {
            "credId": admin.cred_id,
            "clientData": padded,
            "signature": URL_SAFE_NO_PAD.encode(&sig),
        }}
    })
    .to_string();
    let (s, v) = emu
        .send(
            Method::POST,
            "/auth/action",
            Some(&admin.token),
            None,
            Some(&body),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn action_bodies_are_validated() {
    let emu = Emu::start(&[]);
    let admin = emu.admin();
    let ch = emu
        .init(&admin, "POST", "/auth/service-accounts", "{}")
        .await;
    let cd = sorted_client_data(ch["challenge"].as_str().unwrap());
    let sig = admin.key.sign(&cd);
    let mut body = json!({
        "challengeIdentifier": ch["challengeIdentifier"],
        "firstFactor": {"kind": "Key", "credentialAssertion": {
            "credId": admin.cred_id,
            "clientData": URL_SAFE_NO_PAD.encode(&cd),
            "signature": URL_SAFE_NO_PAD.encode(&sig),
            "extra": 1,
        }}
    });
    let (s, v) = emu
        .send(
            Method::POST,
            "/auth/action",
            Some(&admin.token),
            None,
            Some(&body.to_string()),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(code(&v), "invalid_body");
    assert!(v["error"]["message"].as_str().unwrap().contains("extra"));

    body["firstFactor"]["kind"] = json!("Fido2");
    let (s, v) = emu
        .send(
            Method::POST,
            "/auth/action",
            Some(&admin.token),
            None,
            Some(&body.to_string()),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(code(&v), "unsupported_factor");

    // The challenge survived the rejected bodies (they never reached it): a clean,
    // explicit `algorithm`-carrying assertion still works.
    body["firstFactor"]["kind"] = json!("Key");
    let assertion = body["firstFactor"]["credentialAssertion"]
        .as_object_mut()
        .unwrap();
    assertion.remove("extra");
    assertion.insert("algorithm".into(), json!("SHA256"));
    let (s, v) = emu
        .send(
            Method::POST,
            "/auth/action",
            Some(&admin.token),
            None,
            Some(&body.to_string()),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}
