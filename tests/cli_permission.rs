//! `dfns-hsm permission ...` against the real emulator and a real SoftHSM2 token: a service
//! account enrolled with an HSM key can do nothing until a permission is assigned to it, and
//! nothing again once it is revoked; the CLI's 403 names the missing operation.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use testkit::Emulator;
use testkit::{run, serial, token, unique_label};

/// An emulator whose admin key is on the token, and a CLI configured as that admin.
struct Admin {
    emu: Emulator,
    label: String,
}

impl Admin {
    fn start() -> Admin {
        let t = token();
        let label = unique_label("perm-admin");
        let (ok, _, err) = run(t.cli().args(["key", "generate", "--label", &label]));
        assert!(ok, "{err}");
        let (ok, pem, err) = run(t.cli().args(["key", "public-key", "--key", &label]));
        assert!(ok, "{err}");
        let pem_path = t.path().join(format!("{label}.pem"));
        std::fs::write(&pem_path, pem).expect("write pem");
        Admin {
            emu: Emulator::start(&["--admin-public-key", pem_path.to_str().expect("utf8")]),
            label,
        }
    }

    fn cli(&self) -> Command {
        let mut c = token().cli();
        c.env("DFNS_API_URL", self.emu.base_url())
            .env("DFNS_AUTH_TOKEN_FILE", self.emu.admin_token_path())
            .env("DFNS_CRED_ID", self.emu.admin_cred_id())
            .env("DFNS_SIGNING_KEY", &self.label);
        c
    }

    /// `--output json ARGS` as the admin; asserts success.
    fn json(&self, args: &[&str]) -> Value {
        let (ok, out, err) = run(self.cli().args(["--output", "json"]).args(args));
        assert!(ok, "{args:?}: {err}");
        json(&out)
    }
}

/// A service account enrolled with an HSM key: its id and a CLI acting as it.
struct Account {
    id: String,
    cred: String,
    uri: String,
    token_file: PathBuf,
    url: String,
}

impl Account {
    fn enroll(admin: &Admin, dir: &Path) -> Account {
        let label = unique_label("perm-bot");
        let token_file = dir.join(format!("{label}.token"));
        let e = admin.json(&[
            "service-account",
            "enroll",
            "--name",
            &label,
            "--key-label",
            &label,
            "--token-out",
            token_file.to_str().expect("utf8"),
        ]);
        Account {
            id: e["serviceAccountId"].as_str().expect("id").to_owned(),
            cred: e["credId"].as_str().expect("cred").to_owned(),
            uri: e["keyUri"].as_str().expect("uri").to_owned(),
            token_file,
            url: admin.emu.base_url().to_owned(),
        }
    }

    fn cli(&self) -> Command {
        let mut c = token().cli();
        c.env("DFNS_API_URL", &self.url)
            .env("DFNS_AUTH_TOKEN_FILE", &self.token_file)
            .env("DFNS_CRED_ID", &self.cred)
            .env("DFNS_SIGNING_KEY", &self.uri);
        c
    }

    fn output(&self, args: &[&str]) -> Output {
        self.cli().args(args).output().expect("spawn")
    }
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// A refused command: exit code 1, and stderr names the HTTP 403 and the missing operation.
fn assert_denied(out: &Output, operation: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("HTTP 403"), "{err}");
    assert!(
        err.contains(&format!(
            "is not authorized to perform operation ({operation})"
        )),
        "the error must name {operation}: {err}"
    );
    assert!(err.contains("hint:"), "a 403 has a hint: {err}");
}

#[test]
fn an_assigned_permission_allows_and_a_revoked_one_no_longer_does() {
    let _serial = serial();
    let admin = Admin::start();
    let dir = tempfile::tempdir().expect("tmp");
    let account = Account::enroll(&admin, dir.path());

    // Enrolled without a permission: it cannot even list.
    assert_denied(
        &account.output(&["service-account", "list"]),
        "Auth:ServiceAccounts:Read",
    );
    assert_denied(
        &account.output(&[
            "service-account",
            "update",
            &account.id,
            "--external-id",
            "x",
        ]),
        "Auth:ServiceAccounts:Update",
    );
    assert_denied(
        &account.output(&["--output", "json", "permission", "list"]),
        "Permissions:Read",
    );

    // Create (operations after one flag, and the flag repeated), then read back.
    let name = unique_label("ops");
    let created = admin.json(&[
        "permission",
        "create",
        "--name",
        &name,
        "--operation",
        "Auth:ServiceAccounts:Read",
        "Auth:ServiceAccounts:Update",
        "--operation",
        "Permissions:Read",
    ]);
    let pm = created["id"].as_str().expect("id").to_owned();
    assert!(pm.starts_with("pm-"), "{created}");
    assert_eq!(
        created["operations"],
        serde_json::json!([
            "Auth:ServiceAccounts:Read",
            "Auth:ServiceAccounts:Update",
            "Permissions:Read"
        ])
    );
    let got = admin.json(&["permission", "get", &pm]);
    assert_eq!(got, created);
    let (ok, human, err) = run(admin.cli().args(["permission", "list"]));
    assert!(ok, "{err}");
    assert!(human.contains(&pm) && human.contains(&name), "{human}");
    assert!(
        human.contains("(immutable)"),
        "the owner permission: {human}"
    );

    // An account cannot grant itself a permission.
    assert_denied(
        &account.output(&["permission", "assign", &pm, "--identity", &account.id]),
        "Permissions:Assign",
    );

    // Assigned by the admin: the account lists and updates itself.
    let assigned = admin.json(&["permission", "assign", &pm, "--identity", &account.id]);
    let assignment = assigned["id"].as_str().expect("assignment id").to_owned();
    assert!(assignment.starts_with("as-"), "{assigned}");
    assert_eq!(assigned["identityId"], account.id.as_str());
    let out = account.output(&["--output", "json", "service-account", "list"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = json(&String::from_utf8_lossy(&out.stdout));
    let me = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|a| a["userInfo"]["userId"] == account.id.as_str())
        .cloned()
        .expect("itself");
    assert_eq!(
        me["userInfo"]["permissionAssignments"][0]["assignmentId"],
        assignment.as_str()
    );
    let out = account.output(&[
        "--output",
        "json",
        "service-account",
        "update",
        &account.id,
        "--external-id",
        "granted",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        json(&String::from_utf8_lossy(&out.stdout))["userInfo"]["externalId"],
        "granted"
    );
    let held = admin.json(&["permission", "assignments", &pm]);
    assert_eq!(held["items"][0]["id"], assignment.as_str());
    let (ok, human, err) = run(admin.cli().args(["permission", "assignments", &pm]));
    assert!(ok, "{err}");
    assert!(
        human.contains(&assignment) && human.contains(&account.id),
        "{human}"
    );

    // Revoked: refused again, with the operation named.
    let revoked = admin.json(&["permission", "revoke", &pm, "--assignment", &assignment]);
    assert_eq!(revoked["revoked"], true);
    assert_eq!(revoked["assignmentId"], assignment.as_str());
    assert_denied(
        &account.output(&["service-account", "list"]),
        "Auth:ServiceAccounts:Read",
    );
    assert_denied(
        &account.output(&["--output", "json", "service-account", "get", &account.id]),
        "Auth:ServiceAccounts:Read",
    );
    let held = admin.json(&["permission", "assignments", &pm]);
    assert_eq!(held["items"], serde_json::json!([]));

    // Archived, it cannot be assigned; unarchived, it can again.
    let archived = admin.json(&["permission", "archive", &pm]);
    assert_eq!(archived["isArchived"], true);
    let (ok, _, err) =
        run(admin
            .cli()
            .args(["permission", "assign", &pm, "--identity", &account.id]));
    assert!(!ok);
    assert!(
        err.contains("HTTP 400") && err.contains("archived"),
        "{err}"
    );
    let back = admin.json(&["permission", "archive", &pm, "--unarchive"]);
    assert_eq!(back["isArchived"], false);
    admin.json(&["permission", "assign", &pm, "--identity", &account.id]);
    let out = account.output(&["service-account", "list"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn enroll_with_a_permission_id_is_allowed_at_once_and_bad_input_is_refused() {
    let _serial = serial();
    let admin = Admin::start();
    let dir = tempfile::tempdir().expect("tmp");
    let pm = admin.json(&[
        "permission",
        "create",
        "--name",
        &unique_label("reader"),
        "--operation",
        "Auth:ServiceAccounts:Read",
    ])["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let label = unique_label("perm-ready");
    let token_file = dir.path().join("ready.token");
    let e = admin.json(&[
        "service-account",
        "enroll",
        "--name",
        &label,
        "--key-label",
        &label,
        "--permission-id",
        &pm,
        "--token-out",
        token_file.to_str().expect("utf8"),
    ]);
    let account = Account {
        id: e["serviceAccountId"].as_str().expect("id").to_owned(),
        cred: e["credId"].as_str().expect("cred").to_owned(),
        uri: e["keyUri"].as_str().expect("uri").to_owned(),
        token_file,
        url: admin.emu.base_url().to_owned(),
    };
    let out = account.output(&["service-account", "get", &account.id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_denied(
        &account.output(&["service-account", "update", &account.id, "--name", "x"]),
        "Auth:ServiceAccounts:Update",
    );

    // Usage errors: exit 2, nothing sent.
    let out = admin
        .cli()
        .args(["permission", "create", "--name", "no-ops"])
        .output()
        .expect("spawn");
    assert_eq!(out.status.code(), Some(2));
    let out = admin
        .cli()
        .args(["permission", "revoke", &pm])
        .output()
        .expect("spawn");
    assert_eq!(out.status.code(), Some(2));
    // Refused by the API: a malformed operation, an unknown permission.
    let (ok, _, err) = run(admin.cli().args([
        "permission",
        "create",
        "--name",
        "bad",
        "--operation",
        "not an operation",
    ]));
    assert!(!ok);
    assert!(err.contains("HTTP 400"), "{err}");
    let (ok, _, err) = run(admin.cli().args(["permission", "get", "pm-nope"]));
    assert!(!ok);
    assert!(err.contains("HTTP 404"), "{err}");
}
