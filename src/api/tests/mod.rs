//! Wire tests of the client against a bounded loopback responder: what exactly goes over the
//! wire (bytes, headers, signed payloads), which the emulator's integration tests cannot show.
//! Signatures are checked with `ring`, independently of the crate's own verifier.

mod errors;
mod responder;
mod retries;
mod signed_calls;

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use p256::pkcs8::{EncodePrivateKey as _, LineEnding};
use serde_json::{json, Value};

use super::{ApiUrl, AuthToken, DfnsClient};
use crate::signer::{Signer, SoftwareSigner};
use responder::Recorded;

pub const CRED_ID: &str = "Y2ktdGVzdC1jcmVk";
pub const CHALLENGE: &str = "Y2gtNzloaHQtbXJlb2stOGFwOHFtMmVpZWZ0amxhZw";
pub const CHALLENGE_ID: &str = "eyJjaGFsbGVuZ2UtaWQifQ";
pub const USER_ACTION: &str = "ua-token-1";

/// A bearer token shaped like a Dfns JWT, expiring at `exp`.
pub fn token_expiring(exp: u64) -> AuthToken {
    let payload =
        json!({"exp": exp, "https://custom/app_metadata": {"orgId": "or-1", "userId": "us-admin"}});
    let jwt = format!(
        "{}.{}.c2ln",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA"}"#),
        URL_SAFE_NO_PAD.encode(payload.to_string())
    );
    AuthToken::new(jwt).expect("token")
}

pub fn token() -> AuthToken {
    token_expiring(4_102_444_800)
}

pub fn p256_signer() -> Arc<dyn Signer> {
    let key = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let pem = key.to_pkcs8_pem(LineEnding::LF).expect("pem");
    Arc::new(SoftwareSigner::from_pem(&pem, CRED_ID, "test p256").expect("signer"))
}

pub fn ed25519_signer() -> Arc<dyn Signer> {
    let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let pem = key.to_pkcs8_pem(LineEnding::LF).expect("pem");
    Arc::new(SoftwareSigner::from_pem(&pem, CRED_ID, "test ed25519").expect("signer"))
}

pub fn client(base: &str, signer: Option<Arc<dyn Signer>>) -> DfnsClient {
    DfnsClient::builder(ApiUrl::parse(base).expect("url"), token())
        .maybe_signer(signer)
        .connect_timeout(Duration::from_secs(2))
        .request_timeout(Duration::from_secs(5))
        .build()
        .expect("client")
}

pub fn challenge_json() -> String {
    json!({
        "challenge": CHALLENGE,
        "challengeIdentifier": CHALLENGE_ID,
        "allowCredentials": {"key": [{"type": "public-key", "id": CRED_ID}], "webauthn": []},
        "supportedCredentialKinds": [{"kind": "Key", "factor": "first", "requiresSecondFactor": false}],
        "userVerification": "required",
        "attestation": "none",
        "externalAuthenticationUrl": ""
    })
    .to_string()
}

pub fn user_action_json() -> String {
    json!({ "userAction": USER_ACTION }).to_string()
}

pub fn account_json(id: &str, with_token: bool) -> String {
    let mut token = json!({
        "dateCreated": "2026-01-01T00:00:00Z", "credId": CRED_ID, "isActive": true,
        "kind": "ServiceAccount", "linkedUserId": id, "linkedAppId": "ap-1", "name": "bot",
        "orgId": "or-1", "permissionAssignments": [], "publicKey": "SHA256:x", "tokenId": "to-1"
    });
    if with_token {
        token["accessToken"] = json!("eyJhbGciOiJFZERTQSJ9.eyJleHAiOjF9.bmV3");
    }
    json!({
        "userInfo": {"username": "bot", "name": "bot", "userId": id, "kind": "CustomerEmployee",
            "credentialUuid": "cr-1", "orgId": "or-1", "isActive": true, "isServiceAccount": true,
            "isRegistered": true, "permissionAssignments": []},
        "accessTokens": [token]
    })
    .to_string()
}

/// Headers every request must (and must not) carry.
pub fn assert_common_headers(r: &Recorded) {
    let auth = r.header("authorization").expect("authorization header");
    assert_eq!(auth, format!("Bearer {}", token().expose_secret()));
    let ua = r.header("user-agent").expect("user-agent header");
    assert!(ua.starts_with("dfns-hsm/"), "{ua}");
    assert!(!r.has_header("x-dfns-appid"), "retired X-DFNS-APPID sent");
    assert!(!r.has_header("x-dfns-nonce"), "retired X-DFNS-NONCE sent");
}

/// Check the three requests of a signed call and return the signed request's body bytes.
///
/// `verify` checks a signature over clientData bytes with an independent verifier.
pub fn assert_signed_flow(
    seen: &[Recorded],
    method: &str,
    target: &str,
    public_key_pem: &str,
    verify: fn(&[u8], &[u8], &[u8]),
) -> Vec<u8> {
    assert_eq!(seen.len(), 3, "expected init, action, request");
    seen.iter().for_each(assert_common_headers);
    let (init, action, request) = (&seen[0], &seen[1], &seen[2]);

    assert_eq!(
        (init.method.as_str(), init.target.as_str()),
        ("POST", "/auth/action/init")
    );
    assert!(!init.has_header("x-dfns-useraction"));
    let init_body = init.json();
    let path = target.split('?').next().expect("path");
    assert_eq!(init_body["userActionHttpMethod"], method);
    assert_eq!(init_body["userActionHttpPath"], path);
    assert_eq!(init_body["userActionServerKind"], "Api");
    assert_eq!(init_body.as_object().expect("object").len(), 4);
    let payload = init_body["userActionPayload"]
        .as_str()
        .expect("payload string");

    assert_eq!(
        (action.method.as_str(), action.target.as_str()),
        ("POST", "/auth/action")
    );
    assert!(!action.has_header("x-dfns-useraction"));
    let a = action.json();
    assert_eq!(a["challengeIdentifier"], CHALLENGE_ID);
    assert_eq!(a["firstFactor"]["kind"], "Key");
    let assertion = &a["firstFactor"]["credentialAssertion"];
    assert_eq!(assertion["credId"], CRED_ID);
    assert!(assertion.get("algorithm").is_none());
    let client_data = URL_SAFE_NO_PAD
        .decode(assertion["clientData"].as_str().expect("clientData"))
        .expect("clientData is unpadded base64url");
    assert_eq!(
        client_data,
        format!(r#"{{"challenge":"{CHALLENGE}","type":"key.get"}}"#).into_bytes()
    );
    let signature = URL_SAFE_NO_PAD
        .decode(assertion["signature"].as_str().expect("signature"))
        .expect("signature is unpadded base64url");
    verify(&spki_der(public_key_pem), &client_data, &signature);

    assert_eq!(
        (request.method.as_str(), request.target.as_str()),
        (method, target)
    );
    assert_eq!(request.header("x-dfns-useraction"), Some(USER_ACTION));
    assert_eq!(
        request.body,
        payload.as_bytes(),
        "body bytes differ from userActionPayload"
    );
    if request.body.is_empty() {
        assert!(!request.has_header("content-type"));
    } else {
        assert_eq!(request.header("content-type"), Some("application/json"));
    }
    request.body.clone()
}

fn spki_der(pem: &str) -> Vec<u8> {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(b64).expect("pem base64")
}

/// ring: ECDSA P-256 / SHA-256 / ASN.1 DER; the SPKI's last 65 bytes are the point.
pub fn verify_p256(spki: &[u8], message: &[u8], signature: &[u8]) {
    let point = &spki[spki.len() - 65..];
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, point)
        .verify(message, signature)
        .expect("ring verifies the P-256 signature over the clientData bytes");
}

/// ring: Ed25519; the SPKI's last 32 bytes are the key.
pub fn verify_ed25519(spki: &[u8], message: &[u8], signature: &[u8]) {
    let key = &spki[spki.len() - 32..];
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, key)
        .verify(message, signature)
        .expect("ring verifies the Ed25519 signature over the clientData bytes");
}

/// Await the responder, bounded.
pub async fn recorded(handle: tokio::task::JoinHandle<Vec<Recorded>>) -> Vec<Recorded> {
    tokio::time::timeout(Duration::from_secs(15), handle)
        .await
        .expect("responder finished")
        .expect("responder task")
}

pub fn body_json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("json")
}
