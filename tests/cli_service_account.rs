//! The `dfns-hsm` CLI against the real emulator and a real SoftHSM2 token: `enroll`, the
//! service-account commands, `api`, and what happens on bad input (nothing is created).

use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;

use serde_json::Value;
use testkit::Emulator;
use testkit::{run, serial, token, unique_label};

/// An emulator whose admin key is on the token, and a CLI configured as that admin.
struct Admin {
    emu: Emulator,
    label: String,
}

impl Admin {
    fn start(extra: &[&str]) -> Admin {
        let t = token();
        let label = unique_label("cli-admin");
        let (ok, _, err) = run(t.cli().args(["key", "generate", "--label", &label]));
        assert!(ok, "{err}");
        let (ok, pem, err) = run(t.cli().args(["key", "public-key", "--key", &label]));
        assert!(ok, "{err}");
        let pem_path = t.path().join(format!("{label}.pem"));
        std::fs::write(&pem_path, pem).expect("write pem");
        let mut args = vec!["--admin-public-key", pem_path.to_str().expect("utf8")];
        args.extend_from_slice(extra);
        Admin {
            emu: Emulator::start(&args),
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

    fn count(&self) -> usize {
        let (ok, out, err) = run(self
            .cli()
            .args(["--output", "json", "service-account", "list"]));
        assert!(ok, "{err}");
        json(&out)["items"].as_array().expect("items").len()
    }
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

#[test]
fn enroll_creates_saves_and_proves_then_the_account_signs_for_itself() {
    let _serial = serial();
    let admin = Admin::start(&[]);
    let dir = tempfile::tempdir().expect("tmp");
    let token_out = dir.path().join("bot.token");
    let key_label = unique_label("bot");
    // Ed25519 where the module has it (the admin's key is P-256), else RSA-2048.
    let alg = if token().require(
        "enroll_creates_saves_and_proves (ed25519 key)",
        testkit::KeyAlgorithm::Ed25519,
    ) {
        "ed25519"
    } else {
        "rsa-2048"
    };
    let audit = dir.path().join("audit.jsonl");
    // The account will update itself: a permission allowing it, assigned at creation.
    let (ok, out, err) = run(admin.cli().args([
        "--output",
        "json",
        "permission",
        "create",
        "--name",
        &unique_label("self-update"),
        "--operation",
        "Auth:ServiceAccounts:Update",
    ]));
    assert!(ok, "permission create: {err}");
    let permission_id = json(&out)["id"].as_str().expect("id").to_owned();
    let (ok, out, err) = run(admin
        .cli()
        .arg("--audit-log")
        .arg(&audit)
        .args([
            "--output",
            "json",
            "service-account",
            "enroll",
            "--name",
            &key_label,
            "--key-label",
            &key_label,
            "--algorithm",
            alg,
            "--days-valid",
            "7",
            "--permission-id",
            &permission_id,
            "--token-out",
        ])
        .arg(&token_out));
    assert!(ok, "enroll: {err}");
    let e = json(&out);
    assert_eq!(e["verified"], true);
    assert_eq!(e["keyGenerated"], true);
    let id = e["serviceAccountId"].as_str().expect("id").to_owned();
    let cred = e["credId"].as_str().expect("cred").to_owned();
    let uri = e["keyUri"].as_str().expect("uri").to_owned();
    assert!(
        uri.starts_with("pkcs11:") && uri.contains(&key_label),
        "{uri}"
    );
    assert!(
        e.get("accessToken").is_none(),
        "the token is never printed unless asked"
    );
    let meta = std::fs::metadata(&token_out).expect("token file");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let saved = std::fs::read_to_string(&token_out).expect("read");
    // The audit trail: the admin's signature for the create, the account's for the proof.
    let lines: Vec<Value> = std::fs::read_to_string(&audit)
        .expect("audit log")
        .lines()
        .map(json)
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["method"], "POST");
    assert_eq!(lines[0]["path"], "/auth/service-accounts");
    assert_eq!(lines[0]["credId"], admin.emu.admin_cred_id().as_str());
    assert_eq!(lines[1]["credId"], cred.as_str());
    assert_eq!(lines[1]["keyUri"], uri.as_str());
    for l in &lines {
        assert_eq!(l["outcome"], "ok");
        assert_eq!(
            l["challengeIdentifierSha256"].as_str().map(str::len),
            Some(64)
        );
    }
    assert_eq!(
        std::fs::metadata(&audit)
            .expect("audit")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert!(
        !out.contains(&saved) && !err.contains(&saved),
        "token leaked to the terminal"
    );

    // The account, with its own token, credential and HSM key, makes a signed call.
    let (ok, out, err) = run(token()
        .cli()
        .env("DFNS_API_URL", admin.emu.base_url())
        .env("DFNS_AUTH_TOKEN_FILE", &token_out)
        .env("DFNS_CRED_ID", &cred)
        .env("DFNS_SIGNING_KEY", &uri)
        .args([
            "--output",
            "json",
            "service-account",
            "update",
            &id,
            "--external-id",
            "self",
        ]));
    assert!(ok, "self-signed update: {err}");
    assert_eq!(json(&out)["userInfo"]["externalId"], "self");

    // Reusing the key for a second account; a mismatching algorithm is refused.
    let (ok, _, err) = run(admin.cli().args([
        "service-account",
        "enroll",
        "--name",
        &unique_label("again"),
        "--key-label",
        &key_label,
        "--algorithm",
        "ecdsa-p256",
        "--print-token",
    ]));
    assert!(!ok);
    assert!(err.contains(alg) && err.contains(&key_label), "{err}");
    let (ok, out, err) = run(admin.cli().args([
        "--output",
        "json",
        "service-account",
        "enroll",
        "--name",
        &unique_label("again"),
        "--key-label",
        &key_label,
        "--print-token",
    ]));
    assert!(ok, "{err}");
    let again = json(&out);
    assert_eq!(again["keyGenerated"], false);
    assert_eq!(again["keyUri"], uri.as_str());
    assert!(
        again["accessToken"].as_str().is_some_and(|t| t.len() > 20),
        "asked for: printed"
    );
}

#[test]
fn bad_token_destinations_are_refused_before_anything_is_created() {
    let _serial = serial();
    let admin = Admin::start(&[]);
    let before = admin.count();
    let dir = tempfile::tempdir().expect("tmp");
    let existing = dir.path().join("existing.token");
    std::fs::write(&existing, "keep me").expect("write");
    let cases = [
        existing.clone(),
        std::path::PathBuf::from("/nonexistent-dir/x.token"),
    ];
    for out in cases {
        let label = unique_label("refused");
        let (ok, _, err) = run(admin
            .cli()
            .args([
                "service-account",
                "enroll",
                "--name",
                &label,
                "--key-label",
                &label,
                "--token-out",
            ])
            .arg(&out));
        assert!(!ok, "{out:?} should be refused");
        assert!(
            err.contains("--token-out") || err.contains("token file"),
            "{err}"
        );
        // No key was generated either.
        let (ok, _, _) = run(token().cli().args(["key", "public-key", "--key", &label]));
        assert!(
            !ok,
            "a key was generated although the enrollment was refused"
        );
    }
    let (ok, _, err) = run(admin.cli().args([
        "service-account",
        "create",
        "--name",
        "n",
        "--key",
        &admin.label,
    ]));
    assert!(
        !ok,
        "create without --token-out or --print-token must be refused"
    );
    assert!(err.contains("token-out"), "{err}");
    assert_eq!(std::fs::read_to_string(&existing).expect("read"), "keep me");
    assert_eq!(admin.count(), before, "no account was created");
}

#[test]
fn lifecycle_and_api_through_the_cli() {
    let _serial = serial();
    let admin = Admin::start(&["--approval-required", "ServiceAccounts:Deactivate"]);
    let t = token();
    let pub_label = unique_label("pubfile");
    let (ok, pem, err) = run(t.cli().args([
        "key",
        "generate",
        "--label",
        &pub_label,
        "--algorithm",
        "rsa-2048",
        "--output",
        "json",
    ]));
    assert!(ok, "{err}");
    let pem_path = t.path().join(format!("{pub_label}.pem"));
    std::fs::write(&pem_path, json(&pem)["publicKeyPem"].as_str().expect("pem")).expect("write");
    let dir = tempfile::tempdir().expect("tmp");
    let (ok, out, err) = run(admin
        .cli()
        .args([
            "--output",
            "json",
            "service-account",
            "create",
            "--name",
            &pub_label,
            "--public-key-file",
        ])
        .arg(&pem_path)
        .arg("--token-out")
        .arg(dir.path().join("t")));
    assert!(ok, "create: {err}");
    let id = json(&out)["serviceAccountId"]
        .as_str()
        .expect("id")
        .to_owned();

    let (ok, out, err) = run(admin
        .cli()
        .args(["--output", "json", "service-account", "get", &id]));
    assert!(ok, "{err}");
    assert_eq!(json(&out)["userInfo"]["name"], pub_label.as_str());

    // Deactivate needs approval here: exit code 3, the approval on stdout, nothing changed.
    let out = admin
        .cli()
        .args(["--output", "json", "service-account", "deactivate", &id])
        .output()
        .expect("spawn");
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        json(&String::from_utf8_lossy(&out.stdout))["outcome"],
        "pendingApproval"
    );
    let (ok, out, _) = run(admin.cli().args([
        "--output",
        "json",
        "api",
        "GET",
        &format!("/auth/service-accounts/{id}"),
    ]));
    assert!(ok);
    assert_eq!(json(&out)["body"]["userInfo"]["isActive"], true);
    let (ok, out, err) = run(admin.cli().args([
        "--output",
        "json",
        "service-account",
        "deactivate",
        &id,
        "--force",
    ]));
    assert!(ok, "{err}");
    assert_eq!(json(&out)["userInfo"]["isActive"], false);

    // The generic call signs a PUT by itself.
    let (ok, out, err) = run(admin.cli().args([
        "--output",
        "json",
        "api",
        "PUT",
        &format!("/auth/service-accounts/{id}/activate"),
    ]));
    assert!(ok, "api PUT: {err}");
    assert_eq!(json(&out)["body"]["userInfo"]["isActive"], true);
    let (ok, out, err) = run(admin.cli().args([
        "--output",
        "json",
        "api",
        "put",
        &format!("/auth/service-accounts/{id}"),
        "--data",
        r#"{"externalId":"from-api"}"#,
    ]));
    assert!(ok, "{err}");
    assert_eq!(json(&out)["body"]["userInfo"]["externalId"], "from-api");
    let (ok, _, err) = run(admin.cli().args([
        "api",
        "PUT",
        &format!("/auth/service-accounts/{id}"),
        "--data",
        "{not json",
    ]));
    assert!(!ok);
    assert!(err.contains("--data"), "{err}");

    let (ok, _, err) = run(admin.cli().args(["service-account", "archive", &id]));
    assert!(ok, "{err}");
    let (ok, _, err) = run(admin.cli().args(["service-account", "get", &id]));
    assert!(!ok);
    assert!(err.contains("404"), "{err}");
}

#[test]
fn a_lost_answer_is_exit_code_4_with_what_to_check() {
    let _serial = serial();
    // Every create is carried out, then its answer lost; other calls go through.
    let admin = Admin::start(&[
        "--drop-response-rate",
        "1",
        "--drop-response-route",
        "POST /auth/service-accounts",
        "--drop-response-mode",
        "close",
    ]);
    let name = unique_label("lost");
    let out = admin
        .cli()
        .args([
            "service-account",
            "create",
            "--name",
            &name,
            "--key",
            &admin.label,
            "--print-token",
        ])
        .output()
        .expect("spawn");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(
        err.contains("TOKEN WAS LOST") && err.contains("archive"),
        "{err}"
    );
    // Exactly one account exists, the one named in the message.
    let (ok, list, _) = run(admin
        .cli()
        .args(["--output", "json", "service-account", "list"]));
    assert!(ok);
    let items = json(&list)["items"].as_array().expect("items").clone();
    let ours: Vec<&Value> = items
        .iter()
        .filter(|a| a["userInfo"]["name"] == name.as_str())
        .collect();
    assert_eq!(ours.len(), 1, "created exactly once");
    let id = ours[0]["userInfo"]["userId"].as_str().expect("id");
    assert!(err.contains(id), "the message names the account: {err}");

    // A mutation of an endpoint the client cannot reconcile: never resent blindly.
    let out = admin
        .cli()
        .args(["api", "POST", "/auth/service-accounts", "--data"])
        .arg(format!(
            r#"{{"name":"{}","publicKey":{}}}"#,
            unique_label("generic"),
            serde_json::to_string(
                &std::fs::read_to_string(token().path().join(format!("{}.pem", admin.label)))
                    .expect("pem")
            )
            .expect("json")
        ))
        .output()
        .expect("spawn");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("OUTCOME UNKNOWN"), "{err}");
}

#[test]
fn retries_are_bounded_by_the_flags() {
    let _serial = serial();
    let admin = Admin::start(&["--fail-rate", "1", "--fail-status", "503"]);
    let out = admin
        .cli()
        .args(["--max-attempts", "1", "service-account", "list"])
        .output()
        .expect("spawn");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("503"), "{err}");
    let out = admin
        .cli()
        .args(["--max-attempts", "3", "service-account", "list"])
        .output()
        .expect("spawn");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("3 attempts"), "{err}");
}

#[test]
fn doctor_checks_the_api_the_token_and_the_clock() {
    let _serial = serial();
    let admin = Admin::start(&[]);
    let (ok, out, err) = run(admin.cli().args(["--output", "json", "doctor"]));
    assert!(ok, "{out} {err}");
    let report = json(&out);
    let check = |name: &str| {
        report["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} check: {report}"))
    };
    assert_eq!(check("api")["status"], "ok");
    assert!(check("api")["detail"]
        .as_str()
        .is_some_and(|d| d.contains("token is accepted")));
    assert_eq!(check("api clock")["status"], "ok");
    assert_eq!(
        check("signature")["status"],
        "ok",
        "the signing key was test-signed"
    );

    // A refused token is a failed check and a non-zero exit.
    let dir = tempfile::tempdir().expect("tmp");
    let bad = dir.path().join("bad.token");
    std::fs::write(&bad, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln").expect("write");
    std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let (ok, _, err) = run(admin
        .cli()
        .env("DFNS_AUTH_TOKEN_FILE", &bad)
        .args(["doctor"]));
    assert!(!ok);
    assert!(err.contains("token is refused (401)"), "{err}");
}

#[test]
fn a_create_held_for_approval_says_its_token_will_not_come_and_what_to_do() {
    let _serial = serial();
    let admin = Admin::start(&["--approval-required", "ServiceAccounts:Create"]);
    let dir = tempfile::tempdir().expect("tmp");
    let key_label = unique_label("held");
    let token_out = dir.path().join("held.token");
    let out = admin
        .cli()
        .args([
            "--output",
            "json",
            "service-account",
            "enroll",
            "--name",
            &key_label,
            "--key-label",
            &key_label,
            "--token-out",
        ])
        .arg(&token_out)
        .output()
        .expect("spawn");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = json(&stdout);
    assert_eq!(doc["outcome"], "pendingApproval", "{doc}");
    assert_eq!(
        doc["approval"]["activity"]["kind"], "ServiceAccounts:Create",
        "{doc}"
    );
    let next: Vec<&str> = doc["next"]
        .as_array()
        .unwrap_or_else(|| panic!("no next steps: {doc}"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let says = |what: &[&str]| next.iter().any(|s| what.iter().all(|w| s.contains(w)));
    assert!(
        says(&["token will not be handed out", "once it is approved"]),
        "{next:?}"
    );
    assert!(
        says(&["nobody holds its token", "dfns-hsm service-account archive"]),
        "{next:?}"
    );
    assert!(
        says(&["run the create again", "policy that lets it through"]),
        "{next:?}"
    );
    assert!(says(&["stays on the token", &key_label]), "{next:?}");
    assert!(!token_out.exists(), "no token was written");
    assert_eq!(admin.count(), 0, "nothing was created");

    // The same facts in human form, for create --key reusing the key enroll generated.
    let out = admin
        .cli()
        .args([
            "service-account",
            "create",
            "--name",
            &unique_label("held-2"),
            "--key",
            &key_label,
            "--token-out",
        ])
        .arg(dir.path().join("held-2.token"))
        .output()
        .expect("spawn");
    let human = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{human}");
    assert!(
        human.contains("waiting for a policy approval (HTTP 202)"),
        "{human}"
    );
    assert!(human.contains("what happens next:"), "{human}");
    assert!(human.contains("token will not be handed out"), "{human}");
    assert!(
        human.contains("dfns-hsm service-account archive"),
        "{human}"
    );
    assert_eq!(admin.count(), 0, "nothing was created");
}

/// `doctor --output json [extra]` as `cmd` runs it: exit code, report, stderr.
fn doctor(cmd: &mut Command, extra: &[&str]) -> (Option<i32>, Value, String) {
    let out = cmd
        .args(["--output", "json", "doctor"])
        .args(extra)
        .output()
        .expect("spawn");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), json(&stdout), err)
}

fn check(report: &Value, name: &str) -> Value {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no {name} check: {report}"))
}

#[test]
fn doctor_shows_the_tokens_expiry_and_warns_under_the_threshold() {
    let _serial = serial();
    // An admin token that expires in 10 days and an hour: 10 whole days left.
    let ttl = 10 * 86_400 + 3_600;
    let admin = Admin::start(&["--admin-token-ttl-secs", &ttl.to_string()]);
    let (code, report, err) = doctor(&mut admin.cli(), &[]);
    assert_eq!(code, Some(0), "a warning is not a failure: {report} {err}");
    let token = check(&report, "auth token");
    assert_eq!(token["status"], "warn", "{token}");
    assert_eq!(token["daysLeft"], 10, "{token}");
    assert_eq!(token["warningDays"], 30, "{token}");
    let expires = token["expiresAt"].as_str().expect("expiresAt");
    assert!(
        token["detail"]
            .as_str()
            .is_some_and(|d| d.contains(expires) && d.contains("in 10 day(s)")),
        "{token}"
    );
    assert_eq!(check(&report, "identity")["status"], "ok", "{report}");

    // The threshold: flag over environment over profile.
    let dir = tempfile::tempdir().expect("tmp");
    let profile = dir.path().join("profile.toml");
    std::fs::write(&profile, "[dfns]\nexpiry_warning_days = 5\n").expect("write");
    let status = |cmd: &mut Command, extra: &[&str]| {
        let (code, report, err) = doctor(cmd, extra);
        assert_eq!(code, Some(0), "{report} {err}");
        let t = check(&report, "auth token");
        (
            t["status"].as_str().expect("status").to_owned(),
            t["warningDays"].as_u64().expect("warningDays"),
        )
    };
    assert_eq!(
        status(&mut admin.cli(), &["--expiry-warning-days", "5"]),
        ("ok".into(), 5)
    );
    assert_eq!(
        status(admin.cli().env("DFNS_HSM_EXPIRY_WARNING_DAYS", "5"), &[]),
        ("ok".into(), 5)
    );
    assert_eq!(
        status(admin.cli().arg("--config").arg(&profile), &[]),
        ("ok".into(), 5)
    );
    assert_eq!(
        status(
            admin
                .cli()
                .env("DFNS_HSM_EXPIRY_WARNING_DAYS", "20")
                .arg("--config")
                .arg(&profile),
            &[]
        ),
        ("warn".into(), 20),
        "the environment wins over the profile"
    );
    assert_eq!(
        status(
            admin.cli().env("DFNS_HSM_EXPIRY_WARNING_DAYS", "5"),
            &["--expiry-warning-days", "11"]
        ),
        ("warn".into(), 11),
        "the flag wins over the environment"
    );
}

#[test]
fn doctor_fails_an_expired_token() {
    let _serial = serial();
    let admin = Admin::start(&["--admin-token-ttl-secs", "0"]);
    let (code, report, err) = doctor(&mut admin.cli(), &[]);
    assert_eq!(code, Some(1), "{report} {err}");
    let token = check(&report, "auth token");
    assert_eq!(token["status"], "fail", "{token}");
    assert!(
        token["detail"]
            .as_str()
            .is_some_and(|d| d.contains("expired on")),
        "{token}"
    );
    assert!(
        token["daysLeft"].as_i64().is_some_and(|d| d <= 0),
        "{token}"
    );
    // The API refuses the token, so there is nothing to prove: skipped, not ok.
    let identity = check(&report, "identity");
    assert_eq!(identity["status"], "skipped", "{identity}");
    assert!(err.contains("[skip] identity"), "{err}");
}

#[test]
fn doctor_proves_key_credential_and_token_belong_together() {
    let _serial = serial();
    let admin = Admin::start(&[]);
    let dir = tempfile::tempdir().expect("tmp");
    // A service account whose token is valid for 45 days, its key on the token.
    let bot_label = unique_label("doctor-bot");
    let bot_token = dir.path().join("bot.token");
    let (ok, out, err) = run(admin
        .cli()
        .args([
            "--output",
            "json",
            "service-account",
            "enroll",
            "--name",
            &bot_label,
            "--key-label",
            &bot_label,
            "--days-valid",
            "45",
            "--token-out",
        ])
        .arg(&bot_token));
    assert!(ok, "enroll: {err}");
    let enrolled = json(&out);
    let bot_id = enrolled["serviceAccountId"]
        .as_str()
        .expect("id")
        .to_owned();
    let bot_cred = enrolled["credId"].as_str().expect("credId").to_owned();

    // The admin as configured: proven.
    let (code, report, err) = doctor(&mut admin.cli(), &[]);
    assert_eq!(code, Some(0), "{report} {err}");
    let identity = check(&report, "identity");
    assert_eq!(identity["status"], "ok", "{identity}");
    assert_eq!(identity["credId"], admin.emu.admin_cred_id().as_str());

    // A made-up credential id, and another identity's credential id: failed, clearly.
    for (wrong, what) in [
        ("cred-made-up-1", "made up"),
        (bot_cred.as_str(), "the bot's"),
    ] {
        let (code, report, err) = doctor(admin.cli().env("DFNS_CRED_ID", wrong), &[]);
        assert_eq!(code, Some(1), "{what}: {report} {err}");
        let identity = check(&report, "identity");
        assert_eq!(identity["status"], "fail", "{what}: {identity}");
        let detail = identity["detail"].as_str().expect("detail");
        assert!(
            detail.contains("do not belong together")
                && detail.contains(wrong)
                && detail.contains("is not allowed")
                && detail.contains(&admin.emu.admin_cred_id()),
            "{what}: {detail}"
        );
        assert!(detail.contains("--cred-id"), "{what}: {detail}");
        assert!(err.contains("[FAIL] identity"), "{err}");
        // The rest of the setup is fine.
        assert_eq!(check(&report, "signature")["status"], "ok");
    }

    // The admin's credential id with the bot's key: the signature is refused.
    let (code, report, err) = doctor(admin.cli().env("DFNS_SIGNING_KEY", &bot_label), &[]);
    assert_eq!(code, Some(1), "{report} {err}");
    let identity = check(&report, "identity");
    assert_eq!(identity["status"], "fail", "{identity}");
    assert!(
        identity["detail"]
            .as_str()
            .is_some_and(|d| d.contains("do not belong together") && d.contains("401")),
        "{identity}"
    );

    // As the bot: its token, key and credential belong together, with the whole days left
    // until the exp of its token (45 days from its creation), read here from the token.
    let exp = token_exp(&bot_token);
    let before = now_secs();
    let (code, report, err) = doctor(
        admin
            .cli()
            .env("DFNS_AUTH_TOKEN_FILE", &bot_token)
            .env("DFNS_CRED_ID", &bot_cred)
            .env("DFNS_SIGNING_KEY", &bot_label),
        &[],
    );
    assert_eq!(code, Some(0), "{report} {err}");
    let identity = check(&report, "identity");
    assert_eq!(identity["status"], "ok", "{identity}");
    assert_eq!(identity["userId"], bot_id.as_str(), "{identity}");
    assert_eq!(
        identity["provenWith"],
        format!("PUT /auth/service-accounts/{bot_id}").as_str()
    );
    let token = check(&report, "auth token");
    assert_eq!(token["status"], "ok", "{token}");
    let after = now_secs();
    let days = token["daysLeft"].as_u64().expect("daysLeft");
    assert!(
        ((exp - after) / 86_400..=(exp - before) / 86_400).contains(&days),
        "{token}"
    );
    assert!(
        (44..=45).contains(&days),
        "a token valid for 45 days: {token}"
    );

    // Examining another key (--key) still proves the signing identity, with its own key.
    let (code, report, err) = doctor(&mut admin.cli(), &["--key", &bot_label]);
    assert_eq!(code, Some(0), "{report} {err}");
    assert!(
        check(&report, "key")["detail"]
            .as_str()
            .is_some_and(|d| d.contains(&bot_label)),
        "{report}"
    );
    let identity = check(&report, "identity");
    assert_eq!(identity["status"], "ok", "{identity}");
    assert!(
        identity["keyUri"]
            .as_str()
            .is_some_and(|u| u.contains(&admin.label)),
        "{identity}"
    );

    // Without an identity the proof is skipped, not ok.
    let (code, report, err) = doctor(
        admin
            .cli()
            .env_remove("DFNS_CRED_ID")
            .env_remove("DFNS_SIGNING_KEY"),
        &[],
    );
    assert_eq!(code, Some(0), "{report} {err}");
    assert_eq!(check(&report, "identity")["status"], "skipped", "{report}");
}

/// The `exp` claim of the JWT in `path`, decoded here.
fn token_exp(path: &std::path::Path) -> u64 {
    use base64::Engine as _;
    let jwt = std::fs::read_to_string(path).expect("token");
    let payload = jwt.split('.').nth(1).expect("a JWT");
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url"),
    )
    .expect("claims");
    claims["exp"].as_u64().expect("exp")
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

#[test]
fn doctor_proves_an_identity_whose_key_is_a_software_file() {
    let _serial = serial();
    // The emulator generates the admin's key as a PKCS#8 file.
    let emu = Emulator::start(&[]);
    let key = format!("file:{}", emu.admin_key_path().display());
    let (code, report, err) = doctor(
        token()
            .cli()
            .env("DFNS_API_URL", emu.base_url())
            .env("DFNS_AUTH_TOKEN_FILE", emu.admin_token_path())
            .env("DFNS_CRED_ID", emu.admin_cred_id())
            .env("DFNS_SIGNING_KEY", &key),
        &[],
    );
    assert_eq!(code, Some(0), "{report} {err}");
    assert_eq!(check(&report, "key")["status"], "warn", "{report}");
    let identity = check(&report, "identity");
    assert_eq!(identity["status"], "ok", "{identity}");
    assert_eq!(identity["keyUri"], key.as_str(), "{identity}");
}
