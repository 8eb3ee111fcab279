//! Failures: Dfns error bodies, the user-action flow failing, no signer, timeouts, transport.

use std::time::Duration;

use super::responder::{ok, serve, Reply};
use super::*;
use crate::api::{ApiError, Method};
use crate::signer::SignerError;

#[tokio::test]
async fn a_dfns_error_on_the_request_carries_status_id_and_message() {
    let (base, seen) = serve(vec![
        ok(challenge_json()),
        ok(user_action_json()),
        Reply::WithHeaders(
            403,
            vec![("x-request-id", "req-1")],
            r#"{"error":{"id":"err-9","status":403,"message":"CustomerEmployee us-x is not authorized to perform operation (Auth:ServiceAccounts:Activate)"}}"#.into(),
        ),
    ])
    .await;
    let c = client(&base, Some(p256_signer()));
    let e = c
        .service_accounts()
        .activate("us-1")
        .await
        .expect_err("403");
    let http = e.http().expect("http error");
    assert_eq!(http.status, 403);
    assert_eq!(http.error_id.as_deref(), Some("err-9"));
    assert_eq!(http.request_id.as_deref(), Some("req-1"));
    assert_eq!(http.method, Method::PUT);
    assert_eq!(http.target, "/auth/service-accounts/us-1/activate");
    assert!(http.message.contains("Auth:ServiceAccounts:Activate"));
    assert!(e.to_string().contains("lacks a permission"), "{e}");
    assert_eq!(recorded(seen).await.len(), 3);
}

#[tokio::test]
async fn a_401_during_the_flow_names_the_step_and_the_expired_token() {
    let (base, seen) = serve(vec![Reply::Status(
        401,
        r#"{"message":"Not Authorized."}"#.into(),
    )])
    .await;
    let c = DfnsClient::builder(
        ApiUrl::parse(&base).expect("url"),
        token_expiring(1_767_323_045),
    )
    .signer(p256_signer())
    .build()
    .expect("client");
    let e = c
        .service_accounts()
        .deactivate("us-1", false)
        .await
        .expect_err("401");
    assert!(matches!(e, ApiError::UserAction { .. }));
    assert_eq!(e.status(), Some(401));
    let msg = e.to_string();
    assert!(msg.starts_with("user-action signing for PUT /auth/service-accounts/us-1/deactivate failed: POST /auth/action/init failed with HTTP 401: Not Authorized."), "{msg}");
    assert!(
        msg.contains("the token expired on 2026-01-02T03:04:05Z"),
        "{msg}"
    );
    assert!(!msg.contains(token_expiring(1_767_323_045).expose_secret()));
    assert_eq!(recorded(seen).await.len(), 1);
}

#[tokio::test]
async fn a_challenge_for_another_credential_stops_before_signing() {
    let other = challenge_json().replace(CRED_ID, "b3RoZXI");
    let (base, seen) = serve(vec![ok(other)]).await;
    let c = client(&base, Some(p256_signer()));
    let e = c
        .service_accounts()
        .activate("us-1")
        .await
        .expect_err("not allowed");
    assert!(
        matches!(&e, ApiError::UserAction { source, .. }
            if matches!(**source, ApiError::Signer(SignerError::CredentialNotAllowed { .. }))),
        "{e:?}"
    );
    assert_eq!(
        recorded(seen).await.len(),
        1,
        "nothing sent after the refused challenge"
    );
}

#[tokio::test]
async fn a_mutation_without_a_signer_is_refused_before_any_request() {
    let (base, seen) = serve(vec![ok("{}")]).await;
    let c = client(&base, None);
    let e = c
        .call(
            Method::POST,
            "/wallets",
            Some(serde_json::json!({"network": "Bitcoin"}).into()),
        )
        .await
        .expect_err("no signer");
    assert!(matches!(e, ApiError::NoSigner { .. }), "{e:?}");
    // The flags that fix it are the CLI's to name (`CliError::hint`, tested in src/cli/error.rs).
    assert!(e.to_string().contains("POST /wallets"), "{e}");
    // Release the responder: one harmless request so it stops by itself.
    c.call(Method::GET, "/x", None).await.expect("get");
    let seen = recorded(seen).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].target, "/x");
}

#[tokio::test]
async fn an_undecodable_success_keeps_the_raw_body() {
    let (base, seen) = serve(vec![ok(
        r#"{"userInfo":{"name":"no id"},"accessTokens":[{"accessToken":"eyJ.eyJ.c2ln"}]}"#,
    )])
    .await;
    let c = client(&base, None);
    let e = c
        .service_accounts()
        .get("us-1")
        .await
        .expect_err("bad body");
    let ApiError::UnexpectedResponse { status, body, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(*status, 200);
    assert!(body.expose().contains("accessToken"));
    assert!(!format!("{e:?}").contains("eyJ.eyJ.c2ln"));
    recorded(seen).await;
}

#[tokio::test]
async fn a_slow_server_is_a_timeout_not_a_transport_error() {
    let (base, seen) = serve(vec![Reply::Stall(Duration::from_secs(2))]).await;
    // One attempt: this is about how a single timeout is reported (retries are in retries.rs).
    let c = DfnsClient::builder(ApiUrl::parse(&base).expect("url"), token())
        .request_timeout(Duration::from_millis(300))
        .retry_policy(crate::api::RetryPolicy::disabled())
        .build()
        .expect("client");
    let e = c.service_accounts().list().await.expect_err("timeout");
    assert!(e.is_timeout(), "{e:?}");
    assert!(!e.is_transport());
    assert!(e.to_string().contains("request timeout 0.3s"), "{e}");
    recorded(seen).await;
}

#[tokio::test]
async fn nothing_listening_is_a_transport_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let c = client(&format!("http://127.0.0.1:{port}"), None);
    let e = c.service_accounts().list().await.expect_err("refused");
    assert!(e.is_transport(), "{e:?}");
    assert!(
        e.to_string()
            .contains("cannot reach the Dfns API at 127.0.0.1"),
        "{e}"
    );
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let (base, seen) = serve(vec![Reply::WithHeaders(
        307,
        vec![("location", "http://127.0.0.1:9/steal")],
        String::new(),
    )])
    .await;
    let c = client(&base, None);
    let e = c.service_accounts().list().await.expect_err("redirect");
    assert_eq!(e.status(), Some(307));
    assert!(e.to_string().contains("redirects are not followed"), "{e}");
    assert_eq!(recorded(seen).await.len(), 1);
}

#[tokio::test]
async fn bad_paths_are_refused_before_sending() {
    let c = client("http://127.0.0.1:9", None);
    for bad in ["wallets", "//evil/x", "/a/../b"] {
        let e = c.call(Method::GET, bad, None).await.expect_err(bad);
        assert!(matches!(e, ApiError::InvalidRequest(_)), "{bad}: {e:?}");
    }
}
