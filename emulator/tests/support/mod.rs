//! Test harness: the real `dfns-emulator` binary started by the kit's launcher, signing like a
//! Dfns client, HTTP helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use testkit::emulator::{Builder, Emulator};

/// A running emulator (the kit's launcher) and an HTTP client for it; stopped on drop.
pub struct Emu {
    emulator: Emulator,
    pub url: String,
    pub dir: PathBuf,
    pub http: reqwest::Client,
}

impl Emu {
    /// Start on 127.0.0.1:0 with a fresh temp state dir.
    pub fn start(extra: &[&str]) -> Emu {
        Emu::new(launcher().args(extra).start())
    }

    /// Start with state dir `dir` (which the caller owns).
    pub fn start_in(dir: &Path, extra: &[&str]) -> Emu {
        Emu::new(launcher().state_dir(dir).args(extra).start())
    }

    fn new(emulator: Emulator) -> Emu {
        Emu {
            url: emulator.base_url().to_owned(),
            dir: emulator.state_dir().to_path_buf(),
            emulator,
            http: reqwest::Client::new(),
        }
    }

    /// Stop the process and wait for it (the state dir stays).
    pub fn stop(&mut self) {
        self.emulator.stop();
    }

    pub fn admin(&self) -> Identity {
        let key_pem = std::fs::read_to_string(self.emulator.admin_key_path()).expect("admin key");
        Identity {
            token: self.emulator.admin_token(),
            cred_id: self.emulator.admin_cred_id(),
            key: TestKey::P256(
                <p256::ecdsa::SigningKey as p256::pkcs8::DecodePrivateKey>::from_pkcs8_pem(
                    &key_pem,
                )
                .expect("admin key parses"),
            ),
        }
    }

    /// One HTTP request; `body` None sends no body. Returns status and JSON (Null if empty).
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        token: Option<&str>,
        user_action: Option<&str>,
        body: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{}", self.url, path_and_query));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if let Some(ua) = user_action {
            req = req.header("x-dfns-useraction", ua);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_owned());
        }
        let resp = req.send().await.expect("http request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON response: {text}"))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, Some(token), None, None).await
    }

    /// `POST /auth/action/init`; asserts 200 and returns the challenge response.
    pub async fn init(&self, id: &Identity, method: &str, path: &str, payload: &str) -> Value {
        let body = json!({
            "userActionPayload": payload,
            "userActionHttpMethod": method,
            "userActionHttpPath": path,
            "userActionServerKind": "Api",
        })
        .to_string();
        let (status, v) = self
            .send(
                Method::POST,
                "/auth/action/init",
                Some(&id.token),
                None,
                Some(&body),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "init failed: {v}");
        v
    }

    /// `POST /auth/action` with a prepared assertion.
    pub async fn complete(
        &self,
        id: &Identity,
        challenge_identifier: &str,
        cred_id: &str,
        client_data: &[u8],
        signature: &[u8],
    ) -> (StatusCode, Value) {
        let body = json!({
            "challengeIdentifier": challenge_identifier,
            "firstFactor": {
                "kind": "Key",
                "credentialAssertion": {
                    "credId": cred_id,
                    "clientData": URL_SAFE_NO_PAD.encode(client_data),
                    "signature": URL_SAFE_NO_PAD.encode(signature),
                }
            }
        })
        .to_string();
        self.send(
            Method::POST,
            "/auth/action",
            Some(&id.token),
            None,
            Some(&body),
        )
        .await
    }

    /// `POST /auth/action` answering challenge `ch` as `id`, with `id`'s own credential.
    pub async fn answer(
        &self,
        id: &Identity,
        ch: &Value,
        client_data: &[u8],
        signature: &[u8],
    ) -> (StatusCode, Value) {
        let ident = ch["challengeIdentifier"].as_str().unwrap_or_default();
        self.complete(id, ident, &id.cred_id, client_data, signature)
            .await
    }

    /// Full signing flow; returns the user-action token.
    pub async fn user_action(
        &self,
        id: &Identity,
        method: &str,
        path: &str,
        payload: &str,
    ) -> String {
        let ch = self.init(id, method, path, payload).await;
        let challenge = ch["challenge"].as_str().expect("challenge");
        let cd = sorted_client_data(challenge);
        let sig = id.key.sign(&cd);
        let (status, v) = self
            .complete(
                id,
                ch["challengeIdentifier"].as_str().expect("id"),
                &id.cred_id,
                &cd,
                &sig,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "complete failed: {v}");
        v["userAction"].as_str().expect("userAction").to_owned()
    }

    /// A signed mutation: signs `body` for `method` + the path part of `path_and_query`, then
    /// sends it (an empty `body` sends no body and signs `""`).
    pub async fn signed(
        &self,
        id: &Identity,
        method: Method,
        path_and_query: &str,
        body: &str,
    ) -> (StatusCode, Value) {
        let path = path_and_query.split('?').next().unwrap_or(path_and_query);
        let ua = self.user_action(id, method.as_str(), path, body).await;
        let body = if body.is_empty() { None } else { Some(body) };
        self.send(method, path_and_query, Some(&id.token), Some(&ua), body)
            .await
    }

    /// Create a service account with `key` and no permission; asserts 200; returns the
    /// response and its identity.
    pub async fn create_sa(&self, admin: &Identity, name: &str, key: TestKey) -> (Value, Identity) {
        self.create_sa_with(admin, name, key, None).await
    }

    /// As `admin`, create a permission named `name` with `operations`; asserts 200; returns
    /// its id.
    pub async fn create_permission(
        &self,
        admin: &Identity,
        name: &str,
        operations: &[&str],
    ) -> String {
        let body = json!({ "name": name, "operations": operations }).to_string();
        let (status, v) = self
            .signed(admin, Method::POST, "/permissions", &body)
            .await;
        assert_eq!(status, StatusCode::OK, "create permission failed: {v}");
        v["id"].as_str().expect("permission id").to_owned()
    }

    /// Create a service account holding a new permission with `operations` (assigned at
    /// creation with `permissionId`).
    pub async fn create_sa_granted(
        &self,
        admin: &Identity,
        name: &str,
        key: TestKey,
        operations: &[&str],
    ) -> (Value, Identity) {
        let pm = self
            .create_permission(admin, &format!("{name}-permission"), operations)
            .await;
        self.create_sa_with(admin, name, key, Some(&pm)).await
    }

    /// Create a service account with `key`, and `permissionId` when given; asserts 200.
    pub async fn create_sa_with(
        &self,
        admin: &Identity,
        name: &str,
        key: TestKey,
        permission_id: Option<&str>,
    ) -> (Value, Identity) {
        let mut body = json!({ "name": name, "publicKey": key.public_pem() });
        if let Some(pm) = permission_id {
            body["permissionId"] = json!(pm);
        }
        let body = body.to_string();
        let (status, v) = self
            .signed(admin, Method::POST, "/auth/service-accounts", &body)
            .await;
        assert_eq!(status, StatusCode::OK, "create failed: {v}");
        let token = v["accessTokens"][0]["accessToken"]
            .as_str()
            .expect("accessToken")
            .to_owned();
        let cred_id = v["accessTokens"][0]["credId"]
            .as_str()
            .expect("credId")
            .to_owned();
        (
            v,
            Identity {
                token,
                cred_id,
                key,
            },
        )
    }
}

/// This package's own binary, and a short lifetime: a leaked server stops soon.
fn launcher() -> Builder {
    Emulator::builder()
        .binary(env!("CARGO_BIN_EXE_dfns-emulator"))
        .max_lifetime_secs(120)
}

/// Run the emulator binary to completion (for CLI checks); returns (success, stderr).
pub fn run_to_exit(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dfns-emulator"))
        .args(args)
        .output()
        .expect("run dfns-emulator");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The compact, key-sorted clientData the docs recommend.
pub fn sorted_client_data(challenge: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({ "challenge": challenge, "type": "key.get" })).expect("json")
}

/// clientData as the official TS SDK writes it: `type` first.
pub fn ts_client_data(challenge: &str) -> Vec<u8> {
    format!(r#"{{"type":"key.get","challenge":"{challenge}"}}"#).into_bytes()
}

/// A caller: bearer token, credential id and private key.
pub struct Identity {
    pub token: String,
    pub cred_id: String,
    pub key: TestKey,
}

/// A software private key of each supported algorithm.
pub enum TestKey {
    P256(p256::ecdsa::SigningKey),
    K256(k256::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
    Rsa(Box<rsa::RsaPrivateKey>),
}

impl TestKey {
    pub fn p256() -> TestKey {
        TestKey::P256(p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng))
    }
    pub fn k256() -> TestKey {
        TestKey::K256(k256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng))
    }
    pub fn ed25519() -> TestKey {
        TestKey::Ed25519(ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng))
    }
    /// A fixed test-only 2048-bit key (generating one in a debug build is slow).
    pub fn rsa() -> TestKey {
        use rsa::pkcs8::DecodePrivateKey as _;
        let pem = include_str!("../fixtures/rsa2048-test-only.key.pem");
        TestKey::Rsa(Box::new(
            rsa::RsaPrivateKey::from_pkcs8_pem(pem).expect("rsa fixture"),
        ))
    }

    pub fn public_pem(&self) -> String {
        use p256::pkcs8::{EncodePublicKey as _, LineEnding};
        match self {
            TestKey::P256(k) => k.verifying_key().to_public_key_pem(LineEnding::LF),
            TestKey::K256(k) => k.verifying_key().to_public_key_pem(LineEnding::LF),
            TestKey::Ed25519(k) => k.verifying_key().to_public_key_pem(LineEnding::LF),
            TestKey::Rsa(k) => k.to_public_key().to_public_key_pem(LineEnding::LF),
        }
        .expect("public pem")
    }

    /// Sign as Dfns expects: ECDSA DER over SHA-256, Ed25519 raw, RSA PKCS#1 v1.5 SHA-256.
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        use p256::ecdsa::signature::Signer as _;
        match self {
            TestKey::P256(k) => {
                let s: p256::ecdsa::Signature = k.sign(msg);
                s.to_der().as_bytes().to_vec()
            }
            TestKey::K256(k) => {
                let s: k256::ecdsa::Signature = k.sign(msg);
                s.to_der().as_bytes().to_vec()
            }
            TestKey::Ed25519(k) => k.sign(msg).to_bytes().to_vec(),
            TestKey::Rsa(k) => {
                let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new((**k).clone());
                let s: rsa::pkcs1v15::Signature = signer.sign(msg);
                rsa::signature::SignatureEncoding::to_vec(&s)
            }
        }
    }

    /// ECDSA as raw `r||s` (what PKCS#11 returns), which Dfns rejects.
    pub fn sign_raw_ecdsa(&self, msg: &[u8]) -> Vec<u8> {
        use p256::ecdsa::signature::Signer as _;
        match self {
            TestKey::P256(k) => {
                let s: p256::ecdsa::Signature = k.sign(msg);
                s.to_bytes().to_vec()
            }
            TestKey::K256(k) => {
                let s: k256::ecdsa::Signature = k.sign(msg);
                s.to_bytes().to_vec()
            }
            _ => panic!("not an ECDSA key"),
        }
    }
}

/// The stable error code of an error response.
pub fn code(v: &Value) -> &str {
    v["error"]["details"]["code"]
        .as_str()
        .unwrap_or("<no code>")
}
