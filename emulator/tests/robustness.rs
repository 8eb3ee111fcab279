//! Hostile or odd input never crashes the server and always gets a JSON error envelope.

mod support;

use rand::{Rng, RngCore};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use support::{code, Emu};

fn assert_envelope(status: StatusCode, v: &Value) {
    assert!(status.is_client_error(), "{status} {v}");
    assert_eq!(
        v["error"]["status"].as_u64(),
        Some(u64::from(status.as_u16())),
        "{v}"
    );
    assert!(
        v["error"]["id"].as_str().is_some_and(|s| !s.is_empty()),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{v}"
    );
}

#[tokio::test]
async fn garbage_bodies_paths_and_headers() {
    let emu = Emu::start(&[]);
    let admin = emu.admin();
    let mut rng = rand::thread_rng();
    let endpoints = [
        (Method::POST, "/auth/action/init".to_string()),
        (Method::POST, "/auth/action".to_string()),
        (Method::POST, "/auth/service-accounts".to_string()),
        (
            Method::PUT,
            "/auth/service-accounts/us-x/deactivate".to_string(),
        ),
    ];
    for round in 0..40 {
        let len = rng.gen_range(0..300);
        let mut bytes = vec![0u8; len];
        rng.fill_bytes(&mut bytes);
        let body = if round % 2 == 0 {
            String::from_utf8_lossy(&bytes).into_owned()
        } else {
            // Structurally valid JSON of the wrong shapes.
            ["null", "[]", "1", "\"s\"", "{\"firstFactor\":null}", "{\"challengeIdentifier\":\"a.b.c\",\"firstFactor\":{\"kind\":\"Key\",\"credentialAssertion\":{\"credId\":\"x\",\"clientData\":\"%%%\",\"signature\":\"\"}}}"]
                [round % 6]
                .to_string()
        };
        for (method, path) in &endpoints {
            let (s, v) = emu
                .send(
                    method.clone(),
                    path,
                    Some(&admin.token),
                    Some("x.y.z"),
                    Some(&body),
                )
                .await;
            assert_envelope(s, &v);
        }
    }
    // Odd paths and ids.
    for path in [
        "/auth/service-accounts/%FF%FE",
        "/auth/service-accounts/..%2F..%2Fetc",
        "/auth/service-accounts/a/b/c",
        "/",
        "//auth//action",
    ] {
        let (s, v) = emu.get(path, &admin.token).await;
        assert_envelope(s, &v);
    }
    // Bearer values that are not tokens.
    for bearer in [
        "",
        "a.b",
        "....",
        "eyJhbGciOiJub25lIn0.eyJleHAiOjk5OTk5OTk5OTl9.",
    ] {
        let (s, v) = emu.get("/auth/service-accounts", bearer).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{bearer:?} -> {v}");
        assert_envelope(s, &v);
    }
    // Bad force values.
    let (s, v) = emu
        .signed(
            &admin,
            Method::DELETE,
            "/auth/service-accounts/us-x?force=maybe",
            "",
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(code(&v), "invalid_query");
    // Still alive and correct.
    let (s, v) = emu.get("/auth/service-accounts", &admin.token).await;
    assert_eq!(s, StatusCode::OK, "{v}");
}
