//! dfns-hsm's API client with HSM signers (real SoftHSM2 keys) against the real emulator over
//! HTTP: every service-account and permission call, and the failure paths Dfns enforces.

use std::sync::Arc;

use dfns_hsm::api::{
    ApiError, ApiUrl, AuthToken, CreatePermission, CreateServiceAccount, DfnsClient, Method,
    Outcome, RequestBody, UpdatePermission, UpdateServiceAccount,
};
use dfns_hsm::hsm::{Algorithm, Key, Token};
use dfns_hsm::signer::{FirstFactor, HsmSigner, KeyAssertion, Signer};
use testkit::Emulator;
use testkit::{token, unique_label};

/// An emulator whose admin credential is a key on the SoftHSM2 token.
struct Setup {
    emu: Emulator,
    token: Arc<Token>,
    admin: DfnsClient,
}

fn hsm_key(token: &Arc<Token>, prefix: &str, alg: Algorithm) -> Arc<Key> {
    Arc::new(Key::generate(token, &unique_label(prefix), alg).expect("generate key"))
}

fn setup(extra: &[&str]) -> Setup {
    let token = token().open();
    let admin_key = hsm_key(&token, "admin", Algorithm::EcdsaP256);
    let pem = token_dir().join(format!("{}.pem", unique_label("admin-pub")));
    std::fs::write(&pem, admin_key.info().public_key_pem.clone().expect("pem")).expect("write");
    let mut args = vec!["--admin-public-key", pem.to_str().expect("utf8")];
    args.extend_from_slice(extra);
    let emu = Emulator::start(&args);
    let signer = HsmSigner::new(admin_key, &emu.admin_cred_id()).expect("signer");
    let admin = client(
        &emu,
        AuthToken::new(emu.admin_token()).expect("token"),
        Some(Arc::new(signer)),
    );
    Setup { emu, token, admin }
}

fn token_dir() -> std::path::PathBuf {
    token().path().to_path_buf()
}

fn client(emu: &Emulator, token: AuthToken, signer: Option<Arc<dyn Signer>>) -> DfnsClient {
    DfnsClient::builder(ApiUrl::parse(emu.base_url()).expect("url"), token)
        .maybe_signer(signer)
        .build()
        .expect("client")
}

fn create_body(name: &str, key: &Key) -> CreateServiceAccount {
    CreateServiceAccount {
        name: name.to_owned(),
        public_key: key.info().public_key_pem.clone().expect("pem"),
        external_id: Some(format!("ext-{name}")),
        days_valid: Some(30),
        ..Default::default()
    }
}

/// As the admin, a new permission allowing `operations`; returns its id.
async fn grant(s: &Setup, operations: &[&str]) -> String {
    let request = CreatePermission {
        name: unique_label("permission"),
        operations: operations.iter().map(|o| (*o).to_owned()).collect(),
    };
    s.admin
        .permissions()
        .create(&request)
        .await
        .expect("create permission")
        .done()
        .expect("not pending")
        .id
}

/// Create an account for a fresh HSM key, allowed to read service accounts; returns (account
/// client signing with that key, id).
async fn new_account(s: &Setup, alg: Algorithm) -> (DfnsClient, String) {
    let reader = grant(s, &["Auth:ServiceAccounts:Read"]).await;
    new_account_with(s, alg, Some(reader)).await
}

/// Create an account for a fresh HSM key, with `permission_id` assigned at creation.
async fn new_account_with(
    s: &Setup,
    alg: Algorithm,
    permission_id: Option<String>,
) -> (DfnsClient, String) {
    let key = hsm_key(&s.token, "sa", alg);
    let name = unique_label("account");
    let created = s
        .admin
        .service_accounts()
        .create(&CreateServiceAccount {
            permission_id,
            ..create_body(&name, &key)
        })
        .await
        .expect("create")
        .done()
        .expect("not pending");
    let token = created
        .access_token()
        .cloned()
        .expect("accessToken at creation");
    let cred = created.cred_id().expect("credId").to_owned();
    let signer = HsmSigner::new(key, &cred).expect("signer");
    (
        client(&s.emu, token, Some(Arc::new(signer))),
        created.id().to_owned(),
    )
}

fn status(e: &ApiError) -> u16 {
    e.status()
        .unwrap_or_else(|| panic!("expected an HTTP error, got {e}"))
}

#[tokio::test]
async fn every_service_account_call_with_hsm_keys() {
    let s = setup(&[]);
    let sa = s.admin.service_accounts();
    // Each account may update itself (and nothing else).
    let updater = grant(&s, &["Auth:ServiceAccounts:Update"]).await;
    for alg in Algorithm::ALL {
        if !token().require(
            &format!("every_service_account_call_with_hsm_keys ({alg})"),
            alg,
        ) {
            continue;
        }
        let key = hsm_key(&s.token, "life", alg);
        let name = unique_label("life");
        let created = sa
            .create(&CreateServiceAccount {
                permission_id: Some(updater.clone()),
                ..create_body(&name, &key)
            })
            .await
            .expect("create")
            .done()
            .expect("done");
        let id = created.id().to_owned();
        assert!(id.starts_with("us-"), "{id}");
        assert!(
            created.access_token().is_some(),
            "accessToken only at creation"
        );
        assert_eq!(created.user_info.name, name);

        let listed = sa.list().await.expect("list");
        let found = listed.items.iter().find(|a| a.id() == id).expect("listed");
        assert!(
            found.access_token().is_none(),
            "list must not carry the token"
        );
        let got = sa.get(&id).await.expect("get");
        assert!(got.access_token().is_none());
        assert_eq!(got.cred_id(), created.cred_id());

        let renamed = format!("{name}-r");
        let updated = sa
            .update(
                &id,
                &UpdateServiceAccount {
                    name: Some(renamed.clone()),
                    external_id: None,
                },
            )
            .await
            .expect("update")
            .done()
            .expect("done");
        assert_eq!(updated.user_info.name, renamed);
        let off = sa
            .deactivate(&id, false)
            .await
            .expect("deactivate")
            .done()
            .expect("done");
        assert!(!off.user_info.is_active);
        let on = sa
            .activate(&id)
            .await
            .expect("activate")
            .done()
            .expect("done");
        assert!(on.user_info.is_active);

        // The account signs with its own HSM key: a mutation as itself.
        let token = created.access_token().cloned().expect("token");
        let signer =
            HsmSigner::new(Arc::clone(&key), created.cred_id().expect("cred")).expect("signer");
        let me = client(&s.emu, token, Some(Arc::new(signer)));
        let own = me
            .service_accounts()
            .update(
                &id,
                &UpdateServiceAccount {
                    name: None,
                    external_id: Some(format!("{alg}")),
                },
            )
            .await
            .unwrap_or_else(|e| panic!("{alg}: self-signed update: {e}"))
            .done()
            .expect("done");
        assert_eq!(
            own.user_info
                .extra
                .get("externalId")
                .and_then(|v| v.as_str()),
            Some(alg.name())
        );

        sa.archive(&id, false)
            .await
            .expect("archive")
            .done()
            .expect("done");
        let gone = sa.get(&id).await.unwrap_err();
        assert_eq!(status(&gone), 404, "{gone}");
        let err = me.service_accounts().list().await.unwrap_err();
        assert_eq!(
            status(&err),
            401,
            "an archived account cannot authenticate: {err}"
        );
    }
}

/// Run the delegated flow by hand so that each step can be bent.
async fn signed_token(
    c: &DfnsClient,
    method: &Method,
    path: &str,
    body: Option<&RequestBody>,
) -> Result<dfns_hsm::api::UserActionToken, ApiError> {
    let challenge = c.init_user_action(method, path, body).await?;
    let ff = c
        .signer()
        .expect("signer")
        .sign(&challenge)
        .await
        .expect("sign");
    c.complete_user_action(&challenge.challenge_identifier, &ff)
        .await
}

#[tokio::test]
async fn user_action_abuse_is_rejected() {
    let s = setup(&[]);
    let (_, id) = new_account(&s, Algorithm::EcdsaP256).await;
    let path = format!("/auth/service-accounts/{id}");
    let body = RequestBody::json(&serde_json::json!({ "externalId": "a" })).expect("body");
    let other = RequestBody::json(&serde_json::json!({ "externalId": "b" })).expect("body");

    // Replayed user action: the first use works, the second is refused.
    let ua = signed_token(&s.admin, &Method::PUT, &path, Some(&body))
        .await
        .expect("token");
    s.admin
        .call_with_user_action(Method::PUT, &path, Some(body.clone()), &ua)
        .await
        .expect("first use");
    let err = s
        .admin
        .call_with_user_action(Method::PUT, &path, Some(body.clone()), &ua)
        .await
        .unwrap_err();
    assert_eq!(status(&err), 403, "replay: {err}");

    // Payload/body mismatch.
    let ua = signed_token(&s.admin, &Method::PUT, &path, Some(&body))
        .await
        .expect("token");
    let err = s
        .admin
        .call_with_user_action(Method::PUT, &path, Some(other), &ua)
        .await
        .unwrap_err();
    assert_eq!(status(&err), 403, "mismatch: {err}");

    // Wrong path and wrong method.
    let ua = signed_token(&s.admin, &Method::PUT, &path, None)
        .await
        .expect("token");
    let err = s
        .admin
        .call_with_user_action(Method::PUT, &format!("{path}/deactivate"), None, &ua)
        .await
        .unwrap_err();
    assert_eq!(status(&err), 403, "wrong path: {err}");
    let ua = signed_token(&s.admin, &Method::PUT, &format!("{path}/activate"), None)
        .await
        .expect("token");
    let err = s
        .admin
        .call_with_user_action(Method::DELETE, &path, None, &ua)
        .await
        .unwrap_err();
    assert_eq!(status(&err), 403, "wrong method: {err}");

    // A bad signature: flip a byte of the HSM's signature.
    let challenge = s
        .admin
        .init_user_action(&Method::PUT, &path, Some(&body))
        .await
        .expect("init");
    let ff = s
        .admin
        .signer()
        .expect("signer")
        .sign(&challenge)
        .await
        .expect("sign");
    let a = ff.assertion();
    let mut sig = base64_decode(&a.signature);
    let last = sig.len() - 1;
    sig[last] ^= 0x01;
    let forged = FirstFactor::Key {
        credential_assertion: KeyAssertion {
            cred_id: a.cred_id.clone(),
            client_data: a.client_data.clone(),
            signature: dfns_hsm::signer::b64url(&sig),
        },
    };
    let err = s
        .admin
        .complete_user_action(&challenge.challenge_identifier, &forged)
        .await
        .unwrap_err();
    assert!(
        matches!(status(&err), 400 | 401 | 403),
        "bad signature: {err}"
    );

    // No user action at all on a mutation.
    let unsigned = client(
        &s.emu,
        AuthToken::new(s.emu.admin_token()).expect("t"),
        None,
    );
    let err = unsigned.service_accounts().activate(&id).await.unwrap_err();
    assert!(matches!(err, ApiError::NoSigner { .. }), "{err}");
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .expect("b64url")
}

#[tokio::test]
async fn dfns_rules_on_service_accounts_hold() {
    let s = setup(&[]);
    // The account's key is Ed25519 where the module has it (a second algorithm besides the
    // admin's P-256), else P-256.
    let alg = if token().require(
        "dfns_rules_on_service_accounts_hold (ed25519 account key)",
        Algorithm::Ed25519,
    ) {
        Algorithm::Ed25519
    } else {
        Algorithm::EcdsaP256
    };
    let (account, id) = new_account(&s, alg).await;
    let key = hsm_key(&s.token, "rules", Algorithm::EcdsaP256);

    // A service account cannot create a service account.
    let err = account
        .service_accounts()
        .create(&create_body(&unique_label("x"), &key))
        .await
        .unwrap_err();
    assert_eq!(status(&err), 403, "{err}");

    // Duplicate name.
    let name = unique_label("dup");
    s.admin
        .service_accounts()
        .create(&create_body(&name, &key))
        .await
        .expect("first")
        .done()
        .expect("done");
    let key2 = hsm_key(&s.token, "rules2", Algorithm::EcdsaP256);
    let err = s
        .admin
        .service_accounts()
        .create(&create_body(&name, &key2))
        .await
        .unwrap_err();
    assert_eq!(status(&err), 409, "{err}");

    // Bad PEM.
    let mut bad = create_body(&unique_label("pem"), &key2);
    bad.public_key = "-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----".into();
    let err = s.admin.service_accounts().create(&bad).await.unwrap_err();
    assert_eq!(status(&err), 400, "{err}");

    // A deactivated account cannot authenticate; activation restores it.
    s.admin
        .service_accounts()
        .deactivate(&id, false)
        .await
        .expect("deactivate");
    let err = account.service_accounts().list().await.unwrap_err();
    assert_eq!(status(&err), 401, "{err}");
    s.admin
        .service_accounts()
        .activate(&id)
        .await
        .expect("activate");
    account
        .service_accounts()
        .list()
        .await
        .expect("active again");
}

#[tokio::test]
async fn an_expired_token_is_refused_with_its_date() {
    let s = setup(&["--token-ttl-secs-override", "0"]);
    let (account, _) = new_account(&s, Algorithm::EcdsaP256).await;
    let err = account.service_accounts().list().await.unwrap_err();
    assert_eq!(status(&err), 401, "{err}");
    assert!(err.to_string().contains("expired"), "{err}");
}

#[tokio::test]
async fn pending_approval_is_an_outcome_not_an_error() {
    let s = setup(&["--approval-required", "ServiceAccounts:Deactivate"]);
    let (_, id) = new_account(&s, Algorithm::EcdsaP256).await;
    let outcome = s
        .admin
        .service_accounts()
        .deactivate(&id, false)
        .await
        .expect("202 is not an error");
    assert!(outcome.is_pending(), "expected pending approval");
    let still = s.admin.service_accounts().get(&id).await.expect("get");
    assert!(still.user_info.is_active, "nothing happens until approval");
    let forced = s
        .admin
        .service_accounts()
        .deactivate(&id, true)
        .await
        .expect("force");
    match forced {
        Outcome::Done(a) => assert!(!a.user_info.is_active),
        Outcome::PendingApproval(v) => panic!("force must bypass approval: {v}"),
    }
}

#[tokio::test]
async fn the_generic_call_signs_only_when_the_endpoint_requires_it() {
    let s = setup(&[]);
    let (_, id) = new_account(&s, Algorithm::Rsa2048).await;
    let read = client(
        &s.emu,
        AuthToken::new(s.emu.admin_token()).expect("t"),
        None,
    );
    let got = read
        .call(Method::GET, &format!("/auth/service-accounts/{id}"), None)
        .await
        .expect("get");
    match got {
        Outcome::Done(r) => assert_eq!(r.body["userInfo"]["userId"], id.as_str()),
        Outcome::PendingApproval(_) => panic!("a GET is never pending"),
    }
    let body = RequestBody::raw(r#"{"externalId":"via-call"}"#).expect("raw");
    let done = s
        .admin
        .call(
            Method::PUT,
            &format!("/auth/service-accounts/{id}"),
            Some(body),
        )
        .await
        .expect("signed PUT");
    match done {
        Outcome::Done(r) => assert_eq!(r.body["userInfo"]["externalId"], "via-call"),
        Outcome::PendingApproval(_) => panic!("not pending"),
    }
}

/// The 403 of a missing permission, naming the operation.
fn assert_denied(e: &ApiError, operation: &str) {
    assert_eq!(status(e), 403, "{e}");
    assert!(
        e.to_string().contains(&format!(
            "is not authorized to perform operation ({operation})"
        )),
        "the error must name {operation}: {e}"
    );
}

#[tokio::test]
async fn permissions_are_created_assigned_and_revoked_with_hsm_keys() {
    let s = setup(&[]);
    let pm = s.admin.permissions();
    let (account, id) = new_account_with(&s, Algorithm::EcdsaP256, None).await;

    // No permission: it can neither list nor update itself.
    let err = account.service_accounts().list().await.unwrap_err();
    assert_denied(&err, "Auth:ServiceAccounts:Read");
    let update = UpdateServiceAccount {
        name: None,
        external_id: Some("self".into()),
    };
    let err = account
        .service_accounts()
        .update(&id, &update)
        .await
        .unwrap_err();
    assert_denied(&err, "Auth:ServiceAccounts:Update");
    let err = account.permissions().list().await.unwrap_err();
    assert_denied(&err, "Permissions:Read");

    // A permission, created and read back.
    let name = unique_label("ops");
    let created = pm
        .create(&CreatePermission {
            name: name.clone(),
            operations: vec![
                "Auth:ServiceAccounts:Read".into(),
                "Auth:ServiceAccounts:Update".into(),
            ],
        })
        .await
        .expect("create")
        .done()
        .expect("done");
    assert!(created.id.starts_with("pm-"), "{created:?}");
    assert_eq!(created.name, name);
    assert!(!created.is_immutable && !created.is_archived);
    assert_eq!(pm.get(&created.id).await.expect("get"), created);
    let all = pm.list().await.expect("list");
    assert!(all.items.iter().any(|p| p.id == created.id));
    let owner = all
        .items
        .iter()
        .find(|p| p.is_immutable)
        .expect("the admin's owner permission");

    // Assigned: the account can list and update itself.
    let assignment = pm
        .assign(&created.id, &id)
        .await
        .expect("assign")
        .done()
        .expect("done");
    assert!(assignment.id.starts_with("as-"), "{assignment:?}");
    assert_eq!(assignment.identity_id, id);
    let listed = account.service_accounts().list().await.expect("list");
    let me = listed.items.iter().find(|a| a.id() == id).expect("itself");
    assert_eq!(me.user_info.permission_assignments.len(), 1);
    assert_eq!(
        me.user_info.permission_assignments[0].assignment_id,
        assignment.id
    );
    account
        .service_accounts()
        .update(&id, &update)
        .await
        .expect("update with the permission");
    let held = pm.assignments(&created.id).await.expect("assignments");
    assert_eq!(held.items, vec![assignment.clone()]);

    // Revoked: refused again.
    let revoked = pm
        .revoke(&created.id, &assignment.id, false)
        .await
        .expect("revoke");
    assert_eq!(revoked, Outcome::Done(()));
    let err = account.service_accounts().list().await.unwrap_err();
    assert_denied(&err, "Auth:ServiceAccounts:Read");
    assert!(pm
        .assignments(&created.id)
        .await
        .expect("assignments")
        .items
        .is_empty());

    // Update, archive, unarchive, delete.
    let renamed = pm
        .update(
            &created.id,
            &UpdatePermission {
                name: Some(format!("{name}-2")),
                operations: None,
            },
        )
        .await
        .expect("update")
        .done()
        .expect("done");
    assert_eq!(renamed.name, format!("{name}-2"));
    assert_eq!(renamed.operations, created.operations);
    let archived = pm.archive(&created.id, true).await.expect("archive");
    assert!(archived.done().expect("done").is_archived);
    let err = pm.assign(&created.id, &id).await.unwrap_err();
    assert_eq!(
        status(&err),
        400,
        "an archived permission cannot be assigned: {err}"
    );
    let back = pm.archive(&created.id, false).await.expect("unarchive");
    assert!(!back.done().expect("done").is_archived);
    assert_eq!(
        pm.delete(&created.id).await.expect("delete"),
        Outcome::Done(())
    );
    let err = pm.get(&created.id).await.unwrap_err();
    assert_eq!(status(&err), 404, "{err}");

    // The owner permission cannot be changed, even by the admin.
    let err = pm
        .update(
            &owner.id,
            &UpdatePermission {
                name: None,
                operations: Some(vec!["Permissions:Read".into()]),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(status(&err), 403, "{err}");
    assert_eq!(pm.get(&owner.id).await.expect("owner"), *owner);
}

#[tokio::test]
async fn permission_changes_whose_answers_are_lost_are_reconciled_not_repeated() {
    // Every permission change is carried out, then its answer lost (connection closed).
    let s = setup(&[
        "--drop-response-rate",
        "1",
        "--drop-response-route",
        "POST /permissions",
        "--drop-response-route",
        "DELETE /permissions",
        "--drop-response-mode",
        "close",
    ]);
    let pm = s.admin.permissions();
    let (account, id) = new_account_with(&s, Algorithm::EcdsaP256, None).await;
    let name = unique_label("lost");
    let request = CreatePermission {
        name: name.clone(),
        operations: vec!["Auth:ServiceAccounts:Read".into()],
    };
    let created = pm
        .create(&request)
        .await
        .expect("reconciled create")
        .done()
        .expect("done");
    assert_eq!(created.name, name);
    let same: Vec<_> = pm
        .list()
        .await
        .expect("list")
        .items
        .into_iter()
        .filter(|p| p.name == name)
        .collect();
    assert_eq!(same.len(), 1, "created exactly once: {same:?}");

    let assignment = pm
        .assign(&created.id, &id)
        .await
        .expect("reconciled assign")
        .done()
        .expect("done");
    assert_eq!(assignment.identity_id, id);
    let held = pm.assignments(&created.id).await.expect("assignments");
    assert_eq!(
        held.items.len(),
        1,
        "assigned exactly once: {:?}",
        held.items
    );
    account.service_accounts().list().await.expect("granted");

    let revoked = pm
        .revoke(&created.id, &assignment.id, false)
        .await
        .expect("reconciled revoke");
    assert_eq!(revoked, Outcome::Done(()));
    let err = account.service_accounts().list().await.unwrap_err();
    assert_denied(&err, "Auth:ServiceAccounts:Read");
    let stats = s.admin.retry_stats();
    assert!(
        stats.reconciliations >= 3 && stats.reconciled_applied >= 3,
        "each lost answer was checked and found carried out: {stats:?}"
    );
}

/// How many service-account mutations the emulator has carried out (its own journal).
async fn committed(s: &Setup) -> usize {
    let stats = s
        .admin
        .call(Method::GET, "/_emulator/stats", None)
        .await
        .expect("stats")
        .done()
        .expect("not pending");
    stats.body["committed"].as_array().expect("committed").len()
}

#[tokio::test]
async fn prove_identity_binds_token_credential_and_key_and_changes_nothing() {
    use dfns_hsm::workflow::{prove_identity, ProofTarget};
    let s = setup(&[]);
    let key = hsm_key(&s.token, "proof", Algorithm::EcdsaP256);
    let created = s
        .admin
        .service_accounts()
        .create(&create_body(&unique_label("proof"), &key))
        .await
        .expect("create")
        .done()
        .expect("not pending");
    let token = created.access_token().cloned().expect("accessToken");
    let cred = created.cred_id().expect("credId").to_owned();
    let id = created.id().to_owned();
    let before = committed(&s).await;
    let own = |c: &DfnsClient| {
        let claims = c.token_claims().expect("claims");
        ProofTarget::for_user(claims.user_id())
    };

    // The account: its own resource; the admin (a user): a path naming no service account.
    let account = client(
        &s.emu,
        token.clone(),
        Some(Arc::new(
            HsmSigner::new(Arc::clone(&key), &cred).expect("signer"),
        )),
    );
    let proof = prove_identity(&account, &own(&account))
        .await
        .expect("the account's proof");
    assert_eq!(proof.path, format!("/auth/service-accounts/{id}"));
    assert_eq!(proof.cred_id, cred);
    assert_eq!(proof.method, Method::PUT);
    prove_identity(&s.admin, &own(&s.admin))
        .await
        .expect("the admin's proof");

    // A credential id the identity does not have: refused before anything is signed.
    let wrong_cred = client(
        &s.emu,
        token.clone(),
        Some(Arc::new(
            HsmSigner::new(Arc::clone(&key), "cred-not-this-one").expect("signer"),
        )),
    );
    let e = prove_identity(&wrong_cred, &own(&wrong_cred))
        .await
        .expect_err("a wrong credential id must fail");
    assert!(
        e.to_string().contains("cred-not-this-one") && e.to_string().contains(&cred),
        "{e}"
    );
    // The right credential id with another key: Dfns refuses the signature.
    let other = hsm_key(&s.token, "proof-other", Algorithm::EcdsaP256);
    let wrong_key = client(
        &s.emu,
        token,
        Some(Arc::new(HsmSigner::new(other, &cred).expect("signer"))),
    );
    let e = prove_identity(&wrong_key, &own(&wrong_key))
        .await
        .expect_err("another key must fail");
    assert_eq!(status(&e), 401, "{e}");
    // No signer: nothing to prove with.
    let unsigned = client(
        &s.emu,
        AuthToken::new(s.emu.admin_token()).expect("token"),
        None,
    );
    assert!(matches!(
        prove_identity(&unsigned, &own(&unsigned)).await,
        Err(ApiError::NoSigner { .. })
    ));

    assert_eq!(committed(&s).await, before, "a proof changes nothing");
    let after = s.admin.service_accounts().get(&id).await.expect("get");
    assert_eq!(after.user_info.name, created.user_info.name);
}
