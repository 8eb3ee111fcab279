//! Permissions: what a service account may do is what its assigned permissions allow; the
//! permissions endpoints; the admin's immutable owner permission.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{code, Emu, Identity, TestKey};

const SAS: &str = "/auth/service-accounts";
const PMS: &str = "/permissions";
const READ: &str = "Auth:ServiceAccounts:Read";
const UPDATE: &str = "Auth:ServiceAccounts:Update";
const DELETE: &str = "Auth:ServiceAccounts:Delete";

fn user_id(v: &Value) -> String {
    v["userInfo"]["userId"].as_str().expect("userId").to_owned()
}

/// A 403 `permission_denied` whose message names `operation`, in Dfns's words.
fn assert_denied(status: StatusCode, v: &Value, operation: &str) {
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(code(v), "permission_denied", "{v}");
    assert_eq!(v["error"]["status"], 403);
    let message = v["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!(
            "is not authorized to perform operation ({operation})"
        )),
        "the message must name {operation}: {message}"
    );
}

async fn assign(emu: &Emu, by: &Identity, pm: &str, identity: &str) -> (StatusCode, Value) {
    let body = json!({ "identityId": identity }).to_string();
    emu.signed(by, Method::POST, &format!("{PMS}/{pm}/assignments"), &body)
        .await
}

async fn update_ext(emu: &Emu, by: &Identity, id: &str, ext: &str) -> (StatusCode, Value) {
    let body = json!({ "externalId": ext }).to_string();
    emu.signed(by, Method::PUT, &format!("{SAS}/{id}"), &body)
        .await
}

/// The admin's owner permission, from the list.
async fn owner(emu: &Emu, admin: &Identity) -> Value {
    let (s, list) = emu.get(PMS, &admin.token).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|p| p["isImmutable"] == true)
        .cloned()
        .expect("an immutable owner permission")
}

#[tokio::test]
async fn a_new_service_account_can_do_nothing_until_a_permission_is_assigned() {
    let emu = Emu::start(&[]);
    let admin = emu.admin();
    let (created, sa) = emu.create_sa(&admin, "bare", TestKey::p256()).await;
    let id = user_id(&created);
    assert_eq!(created["userInfo"]["permissionAssignments"], json!([]));
    assert_eq!(
        created["accessTokens"][0]["permissionAssignments"],
        json!([])
    );

    let (s, v) = emu.get(SAS, &sa.token).await;
    assert_denied(s, &v, READ);
    let (s, v) = emu.get(&format!("{SAS}/{id}"), &sa.token).await;
    assert_denied(s, &v, READ);
    let (s, v) = update_ext(&emu, &sa, &id, "self").await;
    assert_denied(s, &v, UPDATE);
    let (s, v) = emu
        .signed(&sa, Method::PUT, &format!("{SAS}/{id}/deactivate"), "")
        .await;
    assert_denied(s, &v, "Auth:ServiceAccounts:Deactivate");
    let (_, got) = emu.get(&format!("{SAS}/{id}"), &admin.token).await;
    assert_eq!(
        got["userInfo"]["isActive"], true,
        "the refused deactivate did nothing"
    );
    assert!(
        got["userInfo"].get("externalId").is_none(),
        "the refused update did nothing"
    );
    // The permissions endpoints too: without Permissions:Assign it cannot grant itself one.
    let (s, v) = emu.get(PMS, &sa.token).await;
    assert_denied(s, &v, "Permissions:Read");
    let body = json!({ "name": "mine", "operations": [READ] }).to_string();
    let (s, v) = emu.signed(&sa, Method::POST, PMS, &body).await;
    assert_denied(s, &v, "Permissions:Create");
    let pm = emu.create_permission(&admin, "reader", &[READ]).await;
    let (s, v) = assign(&emu, &sa, &pm, &id).await;
    assert_denied(s, &v, "Permissions:Assign");
    let (s, v) = emu.get(SAS, &sa.token).await;
    assert_denied(s, &v, READ);

    // Assigned by the admin: it can read, and only read.
    let (s, a) = assign(&emu, &admin, &pm, &id).await;
    assert_eq!(s, StatusCode::OK, "{a}");
    assert!(
        a["id"].as_str().is_some_and(|i| i.starts_with("as-")),
        "{a}"
    );
    assert_eq!(a["permissionId"], json!(pm));
    assert_eq!(a["identityId"], json!(id));
    assert_eq!(a["isImmutable"], false);
    let (s, list) = emu.get(SAS, &sa.token).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let me = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| user_id(i) == id)
        .cloned()
        .expect("listed");
    let held = &me["userInfo"]["permissionAssignments"];
    assert_eq!(held.as_array().map(Vec::len), Some(1), "{held}");
    assert_eq!(held[0]["assignmentId"], a["id"]);
    assert_eq!(held[0]["permissionName"], "reader");
    assert_eq!(held[0]["operations"], json!([READ]));
    assert_eq!(me["accessTokens"][0]["permissionAssignments"], *held);
    let (s, v) = update_ext(&emu, &sa, &id, "self").await;
    assert_denied(s, &v, UPDATE);

    // Changing the permission's operations takes effect at once.
    let body = json!({ "operations": [READ, UPDATE] }).to_string();
    let (s, v) = emu
        .signed(&admin, Method::PUT, &format!("{PMS}/{pm}"), &body)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["operations"], json!([READ, UPDATE]));
    let (s, v) = update_ext(&emu, &sa, &id, "self").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["userInfo"]["externalId"], "self");
}

#[tokio::test]
async fn archiving_another_account_needs_delete_and_revoke_takes_a_permission_away() {
    let emu = Emu::start(&[]);
    let admin = emu.admin();
    let (created, sa) = emu
        .create_sa_granted(&admin, "ops", TestKey::ed25519(), &[READ, UPDATE])
        .await;
    let id = user_id(&created);
    let (victim, _) = emu.create_sa(&admin, "victim", TestKey::p256()).await;
    let victim_id = user_id(&victim);
    let held = created["userInfo"]["permissionAssignments"].clone();
    assert_eq!(held[0]["operations"], json!([READ, UPDATE]), "{created}");

    let (s, v) = emu.get(SAS, &sa.token).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = update_ext(&emu, &sa, &id, "mine").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // Another account: update is granted, archive is not.
    let (s, v) = update_ext(&emu, &sa, &victim_id, "touched").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = emu
        .signed(&sa, Method::DELETE, &format!("{SAS}/{victim_id}"), "")
        .await;
    assert_denied(s, &v, DELETE);
    let (s, v) = emu.get(&format!("{SAS}/{victim_id}"), &admin.token).await;
    assert_eq!(s, StatusCode::OK, "the refused archive did nothing: {v}");
    assert_eq!(v["userInfo"]["isActive"], true);

    // With Auth:ServiceAccounts:Delete it can.
    let deleter = emu.create_permission(&admin, "deleter", &[DELETE]).await;
    let (s, v) = assign(&emu, &admin, &deleter, &id).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = emu
        .signed(&sa, Method::DELETE, &format!("{SAS}/{victim_id}"), "")
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = emu.get(&format!("{SAS}/{victim_id}"), &admin.token).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Revoke the first permission: reads are refused again, the other grant stays.
    let pm = held[0]["permissionId"].as_str().expect("pm");
    let assignment = held[0]["assignmentId"].as_str().expect("as");
    let (s, list) = emu
        .get(&format!("{PMS}/{pm}/assignments"), &admin.token)
        .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(list["items"][0]["id"], json!(assignment));
    assert_eq!(list["items"][0]["identityId"], json!(id));
    let (s, v) = emu
        .signed(
            &admin,
            Method::DELETE,
            &format!("{PMS}/{pm}/assignments/{assignment}"),
            "",
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    assert_eq!(v, Value::Null, "no body");
    let (s, v) = emu.get(SAS, &sa.token).await;
    assert_denied(s, &v, READ);
    let (s, v) = update_ext(&emu, &sa, &id, "again").await;
    assert_denied(s, &v, UPDATE);
    let (_, got) = emu.get(&format!("{SAS}/{id}"), &admin.token).await;
    let held = got["userInfo"]["permissionAssignments"].as_array().cloned();
    assert_eq!(held.as_ref().map(Vec::len), Some(1), "{got}");
    assert_eq!(held.expect("held")[0]["permissionId"], json!(deleter));
    let (_, list) = emu
        .get(&format!("{PMS}/{pm}/assignments"), &admin.token)
        .await;
    assert_eq!(list["items"], json!([]));
    // Revoking it twice: gone.
    let (s, v) = emu
        .signed(
            &admin,
            Method::DELETE,
            &format!("{PMS}/{pm}/assignments/{assignment}"),
            "",
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(code(&v), "assignment_not_found");
}

#[tokio::test]
async fn the_owner_permission_cannot_be_changed() {
    let emu = Emu::start(&[]);
    let admin = emu.admin();
    let owner = owner(&emu, &admin).await;
    let pm = owner["id"].as_str().expect("id").to_owned();
    let operations = owner["operations"].as_array().expect("operations").clone();
    for op in [
        READ,
        UPDATE,
        DELETE,
        "Permissions:Assign",
        "Permissions:Revoke",
    ] {
        assert!(operations.contains(&json!(op)), "owner lacks {op}: {owner}");
    }
    let (s, list) = emu
        .get(&format!("{PMS}/{pm}/assignments"), &admin.token)
        .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let assignment = list["items"][0].clone();
    assert_eq!(assignment["isImmutable"], true);
    let assignment_id = assignment["id"].as_str().expect("as").to_owned();

    let attempts = [
        (
            Method::PUT,
            format!("{PMS}/{pm}"),
            r#"{"operations":["Permissions:Read"]}"#,
        ),
        (Method::PUT, format!("{PMS}/{pm}"), r#"{"name":"mine"}"#),
        (
            Method::PUT,
            format!("{PMS}/{pm}/archive"),
            r#"{"isArchived":true}"#,
        ),
        (Method::DELETE, format!("{PMS}/{pm}"), ""),
        (
            Method::DELETE,
            format!("{PMS}/{pm}/assignments/{assignment_id}"),
            "",
        ),
    ];
    for (method, path, body) in attempts {
        let (s, v) = emu.signed(&admin, method.clone(), &path, body).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{method} {path}: {v}");
        assert_eq!(code(&v), "permission_immutable", "{method} {path}: {v}");
    }
    let (s, after) = emu.get(&format!("{PMS}/{pm}"), &admin.token).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(after, owner, "nothing about the owner permission changed");
    // And the admin still holds it.
    let (s, _) = emu.get(SAS, &admin.token).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn archived_permissions_grant_nothing_until_unarchived() {
    let emu = Emu::start(&[]);
    let admin = emu.admin();
    let (created, sa) = emu
        .create_sa_granted(&admin, "arch", TestKey::p256(), &[READ])
        .await;
    let pm = created["userInfo"]["permissionAssignments"][0]["permissionId"]
        .as_str()
        .expect("pm")
        .to_owned();
    let archive = |flag: bool| {
        let body = json!({ "isArchived": flag }).to_string();
        let path = format!("{PMS}/{pm}/archive");
        let emu = &emu;
        let admin = &admin;
        async move { emu.signed(admin, Method::PUT, &path, &body).await }
    };
    let (s, v) = archive(true).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["isArchived"], true);
    let (s, v) = emu.get(SAS, &sa.token).await;
    assert_denied(s, &v, READ);
    // It cannot be assigned, nor given at creation; an unknown one neither.
    let (other, _) = emu.create_sa(&admin, "other", TestKey::p256()).await;
    let (s, v) = assign(&emu, &admin, &pm, &user_id(&other)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(code(&v), "permission_archived");
    for (pid, status, want) in [
        (pm.as_str(), StatusCode::BAD_REQUEST, "permission_archived"),
        ("pm-nope", StatusCode::NOT_FOUND, "permission_not_found"),
    ] {
        let body = json!({ "name": "late", "publicKey": TestKey::p256().public_pem(), "permissionId": pid });
        let (s, v) = emu
            .signed(&admin, Method::POST, SAS, &body.to_string())
            .await;
        assert_eq!(s, status, "{v}");
        assert_eq!(code(&v), want);
    }
    let (_, list) = emu.get(SAS, &admin.token).await;
    assert_eq!(
        list["items"].as_array().map(Vec::len),
        Some(2),
        "nothing was created"
    );
    // Unarchived, the assignment grants again.
    let (s, v) = archive(false).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = emu.get(SAS, &sa.token).await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn permission_endpoints_validate_and_paginate() {
    let emu = Emu::start(&[]);
    let admin = emu.admin();
    let (s, p) = emu
        .signed(
            &admin,
            Method::POST,
            PMS,
            &json!({ "name": "a", "operations": [READ, READ, "Wallets:Create"] }).to_string(),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert!(
        p["id"].as_str().is_some_and(|i| i.starts_with("pm-")),
        "{p}"
    );
    assert_eq!(p["operations"], json!([READ, "Wallets:Create"]));
    assert_eq!(p["status"], "Active");
    assert_eq!(p["isImmutable"], false);
    assert_eq!(p["isArchived"], false);
    for field in ["dateCreated", "dateUpdated"] {
        assert!(p[field].as_str().is_some(), "{field}: {p}");
    }
    let pm = p["id"].as_str().expect("id").to_owned();

    let bad = [
        (
            json!({ "name": "a", "operations": [READ] }),
            StatusCode::CONFLICT,
            "name_conflict",
        ),
        (
            json!({ "name": "b", "operations": [] }),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            json!({ "name": "b", "operations": ["read"] }),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            json!({ "name": "", "operations": [READ] }),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            json!({ "name": "b" }),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            json!({ "name": "b", "operations": [READ], "x": 1 }),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
    ];
    for (body, status, want) in bad {
        let (s, v) = emu
            .signed(&admin, Method::POST, PMS, &body.to_string())
            .await;
        assert_eq!(s, status, "{body}: {v}");
        assert_eq!(code(&v), want, "{body}: {v}");
    }
    // Unsigned: the user action comes first, as on every mutation.
    let (s, v) = emu
        .send(
            Method::POST,
            PMS,
            Some(&admin.token),
            None,
            Some(r#"{"name":"u","operations":["Permissions:Read"]}"#),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(code(&v), "user_action_missing");

    let (s, v) = emu.get(&format!("{PMS}/pm-nope"), &admin.token).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(code(&v), "permission_not_found");
    let (s, v) = assign(&emu, &admin, &pm, "us-nobody").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(code(&v), "identity_not_found");
    let (created, _) = emu.create_sa(&admin, "twice", TestKey::p256()).await;
    let (s, v) = assign(&emu, &admin, &pm, &user_id(&created)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = assign(&emu, &admin, &pm, &user_id(&created)).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(code(&v), "assignment_conflict");

    // Pages: the owner, a, c, d.
    emu.create_permission(&admin, "c", &[READ]).await;
    emu.create_permission(&admin, "d", &[READ]).await;
    let (s, first) = emu.get(&format!("{PMS}?limit=3"), &admin.token).await;
    assert_eq!(s, StatusCode::OK, "{first}");
    assert_eq!(first["items"].as_array().map(Vec::len), Some(3));
    let token = first["nextPageToken"]
        .as_str()
        .expect("nextPageToken")
        .to_owned();
    let (s, second) = emu
        .get(
            &format!("{PMS}?limit=3&paginationToken={token}"),
            &admin.token,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{second}");
    assert_eq!(second["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(second["items"][0]["name"], "d");
    assert!(second.get("nextPageToken").is_none(), "{second}");
    let (s, v) = emu.get(&format!("{PMS}?limit=0"), &admin.token).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(code(&v), "invalid_query");

    // Delete: the permission and its assignments go.
    let (s, v) = emu
        .signed(&admin, Method::DELETE, &format!("{PMS}/{pm}"), "")
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let (s, _) = emu.get(&format!("{PMS}/{pm}"), &admin.token).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, got) = emu
        .get(&format!("{SAS}/{}", user_id(&created)), &admin.token)
        .await;
    assert_eq!(got["userInfo"]["permissionAssignments"], json!([]));
}

#[tokio::test]
async fn permissions_survive_a_restart() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("state");
    let mut emu = Emu::start_in(&dir, &[]);
    let admin = emu.admin();
    let (created, sa) = emu
        .create_sa_granted(&admin, "kept", TestKey::p256(), &[READ])
        .await;
    let before = owner(&emu, &admin).await;
    emu.stop();
    drop(emu);
    let emu = Emu::start_in(&dir, &[]);
    assert_eq!(owner(&emu, &admin).await, before);
    let (s, v) = emu.get(SAS, &sa.token).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = update_ext(&emu, &sa, &user_id(&created), "x").await;
    assert_denied(s, &v, UPDATE);
}
