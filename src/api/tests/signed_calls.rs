//! Signed (and unsigned) calls: what goes over the wire.

use serde_json::json;

use super::responder::{ok, serve, Reply};
use super::*;
use crate::api::{CreateServiceAccount, Method, Outcome, RequestBody, UpdateServiceAccount};

#[tokio::test]
async fn create_signs_exactly_the_bytes_it_sends() {
    let (base, seen) = serve(vec![
        ok(challenge_json()),
        ok(user_action_json()),
        ok(account_json("us-new", true)),
    ])
    .await;
    let signer = p256_signer();
    let pem = signer.public_key_pem().to_owned();
    let c = client(&base, Some(signer));
    let request = CreateServiceAccount {
        name: "ops \"bot\" ü".into(),
        public_key: "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n".into(),
        permission_id: None,
        external_id: Some("ext-1".into()),
        days_valid: Some(30),
    };
    let outcome = c.service_accounts().create(&request).await.expect("create");
    let account = outcome.done().expect("done");
    assert_eq!(account.id(), "us-new");
    assert!(account.access_token().is_some());

    let seen = recorded(seen).await;
    let body = assert_signed_flow(&seen, "POST", "/auth/service-accounts", &pem, verify_p256);
    assert_eq!(
        body_json(&body),
        json!({"name": "ops \"bot\" ü", "publicKey": request.public_key, "externalId": "ext-1", "daysValid": 30})
    );
}

#[tokio::test]
async fn a_raw_body_is_sent_and_signed_byte_for_byte_without_the_query() {
    let (base, seen) = serve(vec![
        ok(challenge_json()),
        ok(user_action_json()),
        ok(r#"{"ok":true}"#),
    ])
    .await;
    let signer = ed25519_signer();
    let pem = signer.public_key_pem().to_owned();
    let c = client(&base, Some(signer));
    let raw = "{ \"name\" :  \"n\",\n  \"externalId\": \"e\" }";
    let outcome = c
        .call(
            Method::PUT,
            "/auth/service-accounts/us-1?dryRun=true",
            Some(RequestBody::raw(format!("{raw}\n")).expect("json")),
        )
        .await
        .expect("call");
    let Outcome::Done(resp) = outcome else {
        panic!("expected done")
    };
    assert_eq!((resp.status, resp.body), (200, json!({"ok": true})));

    let seen = recorded(seen).await;
    let body = assert_signed_flow(
        &seen,
        "PUT",
        "/auth/service-accounts/us-1?dryRun=true",
        &pem,
        verify_ed25519,
    );
    assert_eq!(body, raw.as_bytes());
}

#[tokio::test]
async fn archive_with_force_has_no_body_and_signs_an_empty_payload() {
    let (base, seen) = serve(vec![
        ok(challenge_json()),
        ok(user_action_json()),
        ok(account_json("us-1", false)),
    ])
    .await;
    let signer = p256_signer();
    let pem = signer.public_key_pem().to_owned();
    let c = client(&base, Some(signer));
    let account = c
        .service_accounts()
        .archive("us-1", true)
        .await
        .expect("archive")
        .done()
        .expect("done");
    assert!(account.access_token().is_none());
    let seen = recorded(seen).await;
    let body = assert_signed_flow(
        &seen,
        "DELETE",
        "/auth/service-accounts/us-1?force=true",
        &pem,
        verify_p256,
    );
    assert!(body.is_empty());
}

#[tokio::test]
async fn deactivate_with_force_sends_force_true() {
    let (base, seen) = serve(vec![
        ok(challenge_json()),
        ok(user_action_json()),
        ok(account_json("us-1", false)),
    ])
    .await;
    let signer = p256_signer();
    let pem = signer.public_key_pem().to_owned();
    let c = client(&base, Some(signer));
    c.service_accounts()
        .deactivate("us-1", true)
        .await
        .expect("deactivate");
    let seen = recorded(seen).await;
    let path = "/auth/service-accounts/us-1/deactivate";
    let body = assert_signed_flow(&seen, "PUT", path, &pem, verify_p256);
    assert_eq!(body, br#"{"force":true}"#);
}

#[tokio::test]
async fn update_sends_only_the_given_fields() {
    let (base, seen) = serve(vec![
        ok(challenge_json()),
        ok(user_action_json()),
        ok(account_json("us-1", false)),
    ])
    .await;
    let signer = p256_signer();
    let pem = signer.public_key_pem().to_owned();
    let c = client(&base, Some(signer));
    let update = UpdateServiceAccount {
        name: Some("renamed".into()),
        external_id: None,
    };
    c.service_accounts()
        .update("us-1", &update)
        .await
        .expect("update");
    let seen = recorded(seen).await;
    let body = assert_signed_flow(
        &seen,
        "PUT",
        "/auth/service-accounts/us-1",
        &pem,
        verify_p256,
    );
    assert_eq!(body, br#"{"name":"renamed"}"#);
}

#[tokio::test]
async fn a_202_is_a_pending_approval_not_an_error() {
    let approval = json!({"id": "ap-1", "status": "Pending", "activityId": "us-1"});
    let (base, seen) = serve(vec![
        ok(challenge_json()),
        ok(user_action_json()),
        Reply::Status(202, approval.to_string()),
    ])
    .await;
    let c = client(&base, Some(p256_signer()));
    let outcome = c
        .service_accounts()
        .activate("us-1")
        .await
        .expect("activate");
    assert!(outcome.is_pending());
    assert_eq!(outcome, Outcome::PendingApproval(approval));
    let seen = recorded(seen).await;
    assert_eq!(seen[2].target, "/auth/service-accounts/us-1/activate");
    assert!(seen[2].body.is_empty());
}

#[tokio::test]
async fn reads_are_never_signed() {
    let list = format!(
        r#"{{"items":[{}],"nextPageToken":null}}"#,
        account_json("us-1", false)
    );
    let (base, seen) = serve(vec![
        ok(list),
        ok(account_json("us-1", false)),
        Reply::WithHeaders(
            200,
            vec![("x-request-id", "req-7")],
            r#"{"items":[]}"#.into(),
        ),
    ])
    .await;
    // A signer is configured, yet no challenge is requested for GETs.
    let c = client(&base, Some(p256_signer()));
    let list = c.service_accounts().list().await.expect("list");
    assert_eq!(list.items.len(), 1);
    assert!(list.extra.contains_key("nextPageToken"));
    let one = c.service_accounts().get("us-1").await.expect("get");
    assert_eq!(one.user_info.name, "bot");
    let Outcome::Done(resp) = c
        .call(Method::GET, "/wallets?limit=1", None)
        .await
        .expect("generic get")
    else {
        panic!("expected done")
    };
    assert_eq!(resp.request_id.as_deref(), Some("req-7"));

    let seen = recorded(seen).await;
    let targets: Vec<_> = seen
        .iter()
        .map(|r| (r.method.as_str(), r.target.as_str()))
        .collect();
    assert_eq!(
        targets,
        [
            ("GET", "/auth/service-accounts"),
            ("GET", "/auth/service-accounts/us-1"),
            ("GET", "/wallets?limit=1")
        ]
    );
    for r in &seen {
        assert_common_headers(r);
        assert!(!r.has_header("x-dfns-useraction"));
        assert!(!r.has_header("content-type"));
        assert!(r.body.is_empty());
    }
}

#[tokio::test]
async fn documented_exceptions_are_sent_unsigned() {
    let (base, seen) = serve(vec![ok(r#"{"quote":1}"#)]).await;
    let c = client(&base, None);
    let body = RequestBody::from(json!({"from": "a"}));
    c.call(Method::POST, "/swaps/quotes", Some(body))
        .await
        .expect("call");
    let seen = recorded(seen).await;
    assert_eq!(seen.len(), 1);
    assert!(!seen[0].has_header("x-dfns-useraction"));
    assert_eq!(seen[0].body, br#"{"from":"a"}"#);
}
