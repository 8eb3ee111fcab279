//! `service-account rotate` against the emulator with keys on the real SoftHSM2 token: the new
//! account works with the old one's permissions and the old one is retired; a failure at a
//! step leaves the old account working and a report of what exists and what to do.

use std::process::Command;

use serde_json::Value;
use testkit::{serial, token, unique_label, Emulator};

/// The CLI as the emulator's admin (software key); account keys go on the test token.
fn admin(emu: &Emulator) -> Command {
    let mut c = token().cli();
    emu.as_admin(&mut c);
    c
}

fn run_json(c: &mut Command) -> (Option<i32>, Value, String) {
    let out = c.arg("--output").arg("json").output().expect("spawn");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let doc =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text} {err}"));
    (out.status.code(), doc, err)
}

/// A permission that lets an account list accounts, and an account enrolled with it.
fn account_with_permission(emu: &Emulator, dir: &std::path::Path) -> (String, String) {
    let (code, perm, err) = run_json(admin(emu).args([
        "permission",
        "create",
        "--name",
        &unique_label("reader"),
        "--operation",
        "Auth:ServiceAccounts:Read",
    ]));
    assert_eq!(code, Some(0), "{err}");
    let perm = perm["id"].as_str().expect("permission id").to_owned();
    let (code, sa, err) = run_json(
        admin(emu)
            .args(["service-account", "enroll", "--name", &unique_label("old")])
            .args([
                "--key-label",
                &unique_label("old-key"),
                "--permission-id",
                &perm,
            ])
            .arg("--token-out")
            .arg(dir.join("old.token")),
    );
    assert_eq!(code, Some(0), "{err}");
    (
        sa["serviceAccountId"].as_str().expect("id").to_owned(),
        perm,
    )
}

fn get(emu: &Emulator, id: &str) -> Value {
    let (code, doc, err) = run_json(admin(emu).args(["service-account", "get", id]));
    assert_eq!(code, Some(0), "{err}");
    doc
}

fn holds(account: &Value, perm: &str) -> bool {
    account["userInfo"]["permissionAssignments"]
        .as_array()
        .is_some_and(|a| a.iter().any(|x| x["permissionId"] == perm))
}

#[test]
fn rotate_replaces_an_account_with_its_permissions_and_retires_the_old_one() {
    let _serial = serial();
    let emu = Emulator::start(&[]);
    let dir = tempfile::tempdir().expect("tmp");
    let (old, perm) = account_with_permission(&emu, dir.path());
    let new_token = dir.path().join("new.token");
    let (code, report, err) = run_json(
        admin(&emu)
            .args(["service-account", "rotate", &old])
            .args(["--key-label", &unique_label("new-key")])
            .arg("--token-out")
            .arg(&new_token),
    );
    assert_eq!(code, Some(0), "{err} {report}");
    assert_eq!(report["complete"], true, "{report}");
    let steps = report["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 4);
    assert!(steps.iter().all(|s| s["status"] == "done"), "{report}");
    let new = report["newAccountId"].as_str().expect("new id").to_owned();
    assert_ne!(new, old);
    assert!(
        holds(&get(&emu, &new), &perm),
        "the new account holds the permission"
    );
    assert_eq!(
        get(&emu, &old)["userInfo"]["isActive"],
        false,
        "old deactivated"
    );
    // The new token works: with the copied permission it may list accounts.
    let (code, _, err) = run_json(
        admin(&emu)
            .env("DFNS_AUTH_TOKEN_FILE", &new_token)
            .args(["service-account", "list"]),
    );
    assert_eq!(code, Some(0), "{err}");

    // --archive-old: the old account is gone from the listing.
    let second = dir.path().join("second");
    std::fs::create_dir(&second).expect("mkdir");
    let (old2, _) = account_with_permission(&emu, &second);
    let (code, report, err) = run_json(
        admin(&emu)
            .args(["service-account", "rotate", &old2, "--archive-old"])
            .args(["--key-label", &unique_label("new-key2")])
            .arg("--token-out")
            .arg(dir.path().join("new2.token")),
    );
    assert_eq!(code, Some(0), "{err} {report}");
    let (_, list, _) = run_json(admin(&emu).args(["service-account", "list"]));
    let ids: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|a| a["userInfo"]["userId"].as_str())
        .collect();
    assert!(!ids.contains(&old2.as_str()), "archived: {ids:?}");
}

#[test]
fn a_failed_step_leaves_the_old_account_working_and_says_what_to_do() {
    let _serial = serial();
    let emu = Emulator::start(&[]);
    let dir = tempfile::tempdir().expect("tmp");
    let count = || {
        let (_, list, _) = run_json(admin(&emu).args(["service-account", "list"]));
        list["items"].as_array().expect("items").len()
    };

    // Step 1: an account that does not exist. Nothing is created; exit 1.
    let before = count();
    let (code, report, err) = run_json(
        admin(&emu)
            .args(["service-account", "rotate", "us-does-not-exist"])
            .args(["--key-label", &unique_label("never")])
            .arg("--token-out")
            .arg(dir.path().join("a.token")),
    );
    assert_eq!(code, Some(1), "{err} {report}");
    assert_eq!(report["steps"][0]["status"], "failed", "{report}");
    assert_eq!(report["steps"][1]["status"], "notRun", "{report}");
    assert!(report["next"]
        .as_str()
        .is_some_and(|n| n.contains("nothing was created")));
    assert_eq!(count(), before);

    // Step 3: a permission that can no longer be assigned (archived). The new account exists,
    // the old one is untouched and active; exit 4 with both ids and the way out.
    let (old, perm) = account_with_permission(&emu, dir.path());
    let (code, _, err) = run_json(admin(&emu).args(["permission", "archive", &perm]));
    assert_eq!(code, Some(0), "{err}");
    let (code, report, err) = run_json(
        admin(&emu)
            .args(["service-account", "rotate", &old])
            .args(["--key-label", &unique_label("half")])
            .arg("--token-out")
            .arg(dir.path().join("half.token")),
    );
    assert_eq!(code, Some(4), "{err} {report}");
    assert_eq!(report["complete"], false);
    assert_eq!(report["steps"][1]["status"], "done", "{report}");
    assert_eq!(report["steps"][2]["status"], "failed", "{report}");
    assert_eq!(report["steps"][3]["status"], "notRun", "{report}");
    let new = report["newAccountId"].as_str().expect("new id");
    let next = report["next"].as_str().expect("next");
    assert!(
        next.contains(&old) && next.contains(new) && next.contains(&perm),
        "{next}"
    );
    assert!(next.contains("archive"), "how to undo: {next}");
    assert_eq!(
        get(&emu, &old)["userInfo"]["isActive"],
        true,
        "old still active"
    );
    assert!(
        dir.path().join("half.token").exists(),
        "the new token is kept"
    );
}

#[test]
fn a_failed_key_step_creates_nothing_and_a_held_retirement_leaves_the_old_account_active() {
    let _serial = serial();
    let emu = Emulator::start(&["--approval-required", "ServiceAccounts:Deactivate"]);
    let dir = tempfile::tempdir().expect("tmp");
    let (old, _) = account_with_permission(&emu, dir.path());

    // Step 2: the new key's label exists with another algorithm. Nothing is created; exit 1.
    let taken = unique_label("ed-key");
    let (code, _, err) = run_json(token().cli().args([
        "key",
        "generate",
        "--label",
        &taken,
        "--algorithm",
        "ed25519",
    ]));
    if code != Some(0) {
        println!("skipped the key step of this test: the module cannot make Ed25519 keys: {err}");
    } else {
        let (code, report, err) = run_json(
            admin(&emu)
                .args(["service-account", "rotate", &old, "--key-label", &taken])
                .args(["--algorithm", "ecdsa-p256", "--token-out"])
                .arg(dir.path().join("k.token")),
        );
        assert_ne!(code, Some(0), "{err} {report}");
        assert_ne!(code, Some(4), "nothing was created: {report}");
        assert_eq!(report["steps"][1]["status"], "failed", "{report}");
        assert!(report["newAccountId"].is_null(), "{report}");
        assert_eq!(get(&emu, &old)["userInfo"]["isActive"], true);
    }

    // Step 4: deactivating the old account is held for approval: the new one is ready, the
    // old one stays active, exit 4.
    let (code, report, err) = run_json(
        admin(&emu)
            .args(["service-account", "rotate", &old])
            .args(["--key-label", &unique_label("held")])
            .arg("--token-out")
            .arg(dir.path().join("held.token")),
    );
    assert_eq!(code, Some(4), "{err} {report}");
    assert_eq!(report["steps"][2]["status"], "done", "{report}");
    assert_eq!(report["steps"][3]["status"], "failed", "{report}");
    assert!(
        report["next"]
            .as_str()
            .is_some_and(|n| n.contains("stays active")),
        "{report}"
    );
    assert_eq!(
        get(&emu, &old)["userInfo"]["isActive"],
        true,
        "old still active"
    );
}

#[test]
fn archiving_the_old_account_removes_its_token_kept_on_the_hsm() {
    let _serial = serial();
    let emu = Emulator::start(&[]);
    let dir = tempfile::tempdir().expect("tmp");
    let object = unique_label("old-token");
    let uri = format!("pkcs11:object={object};type=data");
    let (code, old, err) = run_json(
        admin(&emu)
            .args([
                "service-account",
                "enroll",
                "--name",
                &unique_label("old-on-hsm"),
            ])
            .args([
                "--key-label",
                &unique_label("old-on-hsm-key"),
                "--token-out",
                &uri,
            ]),
    );
    assert_eq!(code, Some(0), "{err}");
    let old = old["serviceAccountId"].as_str().expect("id").to_owned();
    let listed = || {
        let t = token();
        let out = Command::new("pkcs11-tool")
            .envs(t.env())
            .arg("--module")
            .arg(&t.module)
            .args(["--token-label", &t.label, "--login", "--pin", &t.pin])
            .args(["--list-objects", "--type", "data"])
            .output()
            .expect("pkcs11-tool");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(listed().contains(&object));

    // --old-token needs --archive-old: a deactivated account may come back.
    let out = admin(&emu)
        .args([
            "service-account",
            "rotate",
            &old,
            "--key-label",
            "x",
            "--old-token",
            &uri,
        ])
        .arg("--token-out")
        .arg(dir.path().join("never.token"))
        .output()
        .expect("spawn");
    assert_eq!(out.status.code(), Some(2));

    let (code, report, err) = run_json(
        admin(&emu)
            .args([
                "service-account",
                "rotate",
                &old,
                "--archive-old",
                "--old-token",
                &uri,
            ])
            .args(["--key-label", &unique_label("new-on-hsm")])
            .arg("--token-out")
            .arg(dir.path().join("new.token")),
    );
    assert_eq!(code, Some(0), "{err} {report}");
    assert_eq!(report["oldTokenDeleted"], uri.as_str(), "{report}");
    assert!(
        !listed().contains(&object),
        "the old token is still on the HSM"
    );
}
