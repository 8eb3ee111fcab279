//! The CLI's contract with scripts: exit codes row by row, one JSON document on stdout with
//! `--output json` whether the command succeeds or fails, output that text from the server
//! cannot spoof, logs without escape sequences, paths signed as sent.

use std::os::unix::fs::PermissionsExt as _;
use std::process::{Command, Output};

use serde_json::Value;
use testkit::{serial, token, Emulator};

/// The CLI with nothing inherited but `PATH`.
fn bare() -> Command {
    let mut c = Command::new(testkit::artifact::binary("dfns-hsm"));
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    c
}

/// The CLI as the emulator's admin, signing with its software key (no HSM involved).
fn admin(emu: &Emulator) -> Command {
    let mut c = bare();
    emu.as_admin(&mut c);
    c
}

fn output(c: &mut Command) -> (Option<i32>, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = c.output().expect("spawn");
    (
        status.code(),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not one JSON document ({e}): {s}"))
}

/// One row of README's exit-code table: the command, the code, a word of the message.
fn row(name: &str, cmd: &mut Command, code: i32, says: &str) {
    let (got, _, err) = output(cmd);
    assert_eq!(got, Some(code), "{name}: {err}");
    assert!(err.contains(says), "{name}: {says:?} not in: {err}");
}

#[test]
fn exit_code_2_for_every_setting_that_cannot_work() {
    let _serial = serial();
    let t = token();
    row(
        "a module path that does not load",
        t.cli()
            .env("DFNS_HSM_MODULE", "/nonexistent/libpkcs11.so")
            .args(["key", "list"]),
        2,
        "/nonexistent/libpkcs11.so",
    );
    row(
        "a token label that does not exist",
        t.cli()
            .env("DFNS_HSM_TOKEN", "no-such-token")
            .args(["key", "list"]),
        2,
        "no-such-token",
    );
    let dir = tempfile::tempdir().expect("tmp");
    let open_pin = dir.path().join("pin");
    std::fs::write(&open_pin, &t.pin).expect("pin");
    std::fs::set_permissions(&open_pin, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    row(
        "a PIN file readable by others",
        t.cli()
            .env(
                "DFNS_HSM_PIN_SOURCE",
                format!("file:{}", open_pin.display()),
            )
            .args(["key", "list"]),
        2,
        "accessible by group or others",
    );
    let secret_looking = "123456";
    let (code, _, err) = output(
        t.cli()
            .args(["key", "list", "--pin-source", secret_looking]),
    );
    assert_eq!(code, Some(2), "an unknown --pin-source form: {err}");
    assert!(err.contains("unknown PIN source"), "{err}");
    assert!(!err.contains(secret_looking), "the value was echoed: {err}");
}

#[test]
fn exit_code_2_for_malformed_requests_and_arguments() {
    let emu = Emulator::start(&[]);
    row(
        "an API path without its leading slash",
        admin(&emu).args(["api", "GET", "auth/service-accounts"]),
        2,
        "must start with `/`",
    );
    row(
        "an unknown flag",
        admin(&emu).args(["service-account", "list", "--no-such-flag"]),
        2,
        "--no-such-flag",
    );
    let key = format!("file:{}", emu.admin_key_path().display());
    row(
        "an empty --cred-id",
        bare().args([
            "key",
            "sign-challenge",
            "--key",
            &key,
            "--cred-id",
            "",
            "--challenge",
            "abc",
        ]),
        2,
        "credential id is empty",
    );
    row(
        "an empty --challenge",
        bare().args([
            "key",
            "sign-challenge",
            "--key",
            &key,
            "--cred-id",
            "c-1",
            "--challenge",
            "",
        ]),
        2,
        "--challenge is empty",
    );
    row(
        "a Dfns error (not found) is a failure, not a usage error",
        admin(&emu).args(["service-account", "get", "us-does-not-exist"]),
        1,
        "404",
    );
    row(
        "success",
        admin(&emu).args(["service-account", "list"]),
        0,
        "",
    );
}

#[test]
fn a_failure_with_json_output_is_one_json_error_document() {
    let emu = Emulator::start(&[]);
    let (code, out, err) =
        output(admin(&emu).args(["--output", "json", "api", "GET", "auth/service-accounts"]));
    assert_eq!(code, Some(2), "{err}");
    let doc = json(&out);
    assert_eq!(doc["error"]["kind"], "usage", "{doc}");
    assert!(
        doc["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("must start with `/`")),
        "{doc}"
    );
    assert!(
        err.contains("error: "),
        "the human message stays on stderr: {err}"
    );

    // A 404 from Dfns: kind http, with the hint field present (null when there is none).
    let (code, out, _) = output(admin(&emu).args([
        "--output",
        "json",
        "service-account",
        "get",
        "us-does-not-exist",
    ]));
    assert_eq!(code, Some(1));
    let doc = json(&out);
    assert_eq!(doc["error"]["kind"], "http", "{doc}");
    assert!(doc["error"].get("hint").is_some(), "{doc}");

    // A command line clap refuses is a JSON document too.
    let (code, out, _) = output(bare().args(["--output", "json", "key", "list", "--bogus"]));
    assert_eq!(code, Some(2));
    assert_eq!(json(&out)["error"]["kind"], "usage");

    // A missing module: kind and hint name what to fix.
    let (code, out, _) = output(bare().args(["--output", "json", "token", "list"]));
    assert_eq!(code, Some(2));
    let doc = json(&out);
    assert_eq!(doc["error"]["kind"], "config", "{doc}");
    assert!(
        doc["error"]["hint"]
            .as_str()
            .is_some_and(|h| h.contains("--module")),
        "{doc}"
    );
}

#[test]
fn doctor_prints_its_checks_as_json_when_one_fails() {
    let (code, out, err) = output(
        bare()
            .env("DFNS_HSM_MODULE", "/nonexistent/libpkcs11.so")
            .env("DFNS_HSM_TOKEN", "t")
            .args(["--output", "json", "doctor"]),
    );
    assert_eq!(code, Some(1), "{err}");
    let doc = json(&out);
    assert_eq!(doc["ok"], false, "{doc}");
    let checks = doc["checks"].as_array().expect("checks");
    let module = checks
        .iter()
        .find(|c| c["name"] == "module")
        .expect("a module check");
    assert_eq!(module["status"], "fail", "{doc}");
    assert!(checks.iter().any(|c| c["name"] == "clock"), "{doc}");
    assert_eq!(doc["error"]["kind"], "checksFailed", "{doc}");
    assert!(err.contains("[FAIL] module"), "{err}");
}

#[test]
fn key_list_json_is_camel_case_with_each_keys_uri() {
    let _serial = serial();
    let t = token();
    let label = testkit::unique_label("camel");
    let (ok, _, err) = testkit::run(t.cli().args(["key", "generate", "--label", &label]));
    assert!(ok, "{err}");
    let (code, out, err) = output(t.cli().args(["--output", "json", "key", "list"]));
    assert_eq!(code, Some(0), "{err}");
    let doc = json(&out);
    let key = doc["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["label"] == label.as_str())
        .expect("our key")
        .clone();
    assert!(key["publicKeyPem"].is_string(), "{key}");
    assert_eq!(key["attributes"]["neverExtractable"], true, "{key}");
    assert!(key.get("public_key_pem").is_none(), "{key}");
    let uri = key["uri"].as_str().expect("uri");
    assert!(uri.starts_with("pkcs11:") && uri.contains(&label), "{uri}");
    // The URI is usable as it is.
    let (code, _, err) = output(t.cli().args(["key", "public-key", "--key", uri]));
    assert_eq!(code, Some(0), "{err}");
    let (code, out, _) = output(t.cli().args(["--output", "json", "token", "list"]));
    assert_eq!(code, Some(0));
    assert!(out.contains("\"slotId\""), "{out}");
    let doc = json(&out);
    let ours = doc["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .find(|x| x["label"] == testkit::LABEL)
        .expect("our token")
        .clone();
    let used = ours["dfnsHsmMechanisms"]
        .as_array()
        .expect("marked mechanisms");
    assert!(used.iter().any(|m| m == "CKM_ECDSA"), "{ours}");
    assert!(!used.iter().any(|m| m == "CKM_AES_KEY_GEN"), "{ours}");
    let (code, human, _) = output(t.cli().args(["token", "list"]));
    assert_eq!(code, Some(0));
    assert!(
        human.contains("CKM_ECDSA*") && human.contains("marks the mechanisms"),
        "{human}"
    );
}

/// A fresh SPKI PEM for an account the test creates.
fn public_key_pem() -> String {
    use p256::pkcs8::{EncodePublicKey as _, LineEnding};
    let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
    secret
        .public_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("pem")
}

#[test]
fn an_account_name_with_control_characters_cannot_forge_a_row() {
    let emu = Emulator::start(&[]);
    let evil = "evil\n  us-forged-0000000000000000000  trusted-bot              active\u{1b}[2K";
    let body = serde_json::json!({ "name": evil, "publicKey": public_key_pem() }).to_string();
    let (code, _, err) =
        output(admin(&emu).args(["api", "POST", "/auth/service-accounts", "--data", &body]));
    assert_eq!(code, Some(0), "{err}");
    let (code, out, err) = output(admin(&emu).args(["service-account", "list"]));
    assert_eq!(code, Some(0), "{err}");
    assert!(
        !out.contains('\u{1b}'),
        "an ESC reached the terminal: {out:?}"
    );
    assert!(!out.contains("\n  us-forged"), "a forged row: {out}");
    assert!(out.contains("evil\\n"), "the name is shown escaped: {out}");
    assert_eq!(
        out.lines().count(),
        2,
        "one header and one row for one account: {out}"
    );

    // Logs written to a file carry no escape sequence either, in text or in JSON.
    for format in ["text", "json"] {
        let (code, _, log) = output(admin(&emu).env("DFNS_HSM_LOG", "debug").args([
            "--log-format",
            format,
            "service-account",
            "list",
        ]));
        assert_eq!(code, Some(0), "{log}");
        assert!(!log.is_empty(), "debug logging produced nothing");
        assert!(!log.contains('\u{1b}'), "ESC in the {format} log: {log:?}");
        if format == "json" {
            for line in log.lines() {
                json(line);
            }
        }
    }
}

#[test]
fn an_encoded_dot_segment_is_refused_before_anything_is_signed() {
    let emu = Emulator::start(&[]);
    let dir = tempfile::tempdir().expect("tmp");
    let audit = dir.path().join("audit.jsonl");
    let (code, _, err) = output(admin(&emu).arg("--audit-log").arg(&audit).args([
        "api",
        "PUT",
        "/x/%2e%2e/auth/service-accounts/us-1",
        "--data",
        "{}",
    ]));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("percent-encoded"), "{err}");
    let signed = std::fs::read_to_string(&audit).unwrap_or_default();
    assert!(signed.is_empty(), "a signature was made: {signed}");
}

#[test]
fn three_kinds_of_401_get_three_hints() {
    let emu = Emulator::start(&[]);
    let dir = tempfile::tempdir().expect("tmp");

    // The signature does not verify: a key that is not the credential's.
    let other_key = dir.path().join("other.key.pem");
    let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let pem = p256::pkcs8::EncodePrivateKey::to_pkcs8_pem(&secret, p256::pkcs8::LineEnding::LF)
        .expect("pem");
    std::fs::write(&other_key, pem.as_bytes()).expect("write key");
    std::fs::set_permissions(&other_key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let body =
        serde_json::json!({ "name": "sig-probe", "publicKey": public_key_pem() }).to_string();
    let (code, _, err) = output(
        admin(&emu)
            .env("DFNS_SIGNING_KEY", format!("file:{}", other_key.display()))
            .args([
                "--max-attempts",
                "1",
                "api",
                "POST",
                "/auth/service-accounts",
                "--data",
                &body,
            ]),
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("HTTP 401"), "{err}");
    assert!(
        err.contains("does not verify with the credential's public key"),
        "{err}"
    );
    assert!(
        err.contains("hint: check that --cred-id and --signing-key belong together"),
        "{err}"
    );

    // A deactivated account's own token.
    let pem_path = dir.path().join("sa.pem");
    std::fs::write(&pem_path, public_key_pem()).expect("pem");
    let token_out = dir.path().join("sa.token");
    let (code, out, err) = output(
        admin(&emu)
            .args([
                "--output",
                "json",
                "service-account",
                "create",
                "--name",
                "soon-off",
                "--public-key-file",
            ])
            .arg(&pem_path)
            .arg("--token-out")
            .arg(&token_out),
    );
    assert_eq!(code, Some(0), "{err}");
    let id = json(&out)["serviceAccountId"]
        .as_str()
        .expect("id")
        .to_owned();
    let (code, _, err) = output(admin(&emu).args(["service-account", "deactivate", &id]));
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = output(
        admin(&emu)
            .env("DFNS_AUTH_TOKEN_FILE", &token_out)
            .args(["service-account", "list"]),
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("the identity is deactivated"), "{err}");
    assert!(
        err.contains("hint: an admin can activate it again"),
        "{err}"
    );

    // A token that is not one.
    let (code, _, err) = output(
        admin(&emu)
            .env_remove("DFNS_AUTH_TOKEN_FILE")
            .env(
                "DFNS_AUTH_TOKEN",
                "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
            )
            .args(["service-account", "list"]),
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("another region"), "{err}");
    assert!(err.contains("hint: check --auth-token-file"), "{err}");
}

#[test]
fn a_refused_connection_names_host_port_and_cause() {
    // Bind and drop a listener: its port on loopback is then (almost certainly) closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let (code, _, err) = output(
        bare()
            .env("DFNS_AUTH_TOKEN", "unused-token")
            .args(["service-account", "list", "--max-attempts", "1"])
            .arg("--api-url")
            .arg(format!("http://127.0.0.1:{port}")),
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(err.contains("Connection refused"), "{err}");
}

#[test]
fn a_process_holding_secrets_dumps_no_core() {
    let _serial = serial();
    let t = token();
    let bin = testkit::artifact::binary("dfns-hsm");
    // A unique argument finds our process; the PIN prompt keeps it alive while we look.
    let marker = testkit::unique_label("no-core");
    let mut env_cmd = t.cli();
    env_cmd.env("DFNS_HSM_PIN_SOURCE", "prompt");
    let mut child = Command::new("script")
        .args([
            "-qec",
            &format!("{} key public-key --key {marker}", bin.display()),
            "/dev/null",
        ])
        .envs(env_cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("util-linux script");
    // The process is the one whose argv[0] is the binary (not the shell `script` starts, whose
    // command line carries the marker too). It hardens itself right after exec, so its limits
    // are read until they show the hardening or the time runs out; the last reading is judged.
    let mut core = None;
    for _ in 0..100 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        let found = std::fs::read_dir("/proc")
            .expect("/proc")
            .flatten()
            .find(|e| {
                std::fs::read(e.path().join("cmdline")).is_ok_and(|c| {
                    let mut args = c.split(|b| *b == 0);
                    let argv0 = args.next().unwrap_or_default();
                    argv0 == bin.as_os_str().as_encoded_bytes()
                        && args.any(|a| a == marker.as_bytes())
                })
            });
        let Some(p) = found else { continue };
        core = std::fs::read_to_string(p.path().join("limits"))
            .ok()
            .and_then(|l| {
                l.lines()
                    .find(|l| l.starts_with("Max core file size"))
                    .map(str::to_owned)
            });
        if core
            .as_deref()
            .is_some_and(|c| c.split_whitespace().skip(4).take(2).all(|f| f == "0"))
        {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let core = core.expect("the CLI process was seen, with a core limit line");
    let fields: Vec<&str> = core.split_whitespace().collect();
    assert_eq!(&fields[4..6], ["0", "0"], "{core}");
}

fn chmod(path: &std::path::Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[test]
fn files_holding_secrets_are_private_and_never_reached_through_a_link() {
    let emu = Emulator::start(&[]);
    let dir = tempfile::tempdir().expect("tmp");
    let count = || {
        let (code, out, err) =
            output(admin(&emu).args(["--output", "json", "service-account", "list"]));
        assert_eq!(code, Some(0), "{err}");
        json(&out)["items"].as_array().expect("items").len()
    };
    let before = count();

    // A dangling symlink as --token-out: refused before the account exists.
    let pem = dir.path().join("sa.pem");
    std::fs::write(&pem, public_key_pem()).expect("pem");
    let link = dir.path().join("sa.token");
    std::os::unix::fs::symlink(dir.path().join("nowhere/else"), &link).expect("symlink");
    let (code, _, err) = output(
        admin(&emu)
            .args([
                "service-account",
                "create",
                "--name",
                "via-link",
                "--public-key-file",
            ])
            .arg(&pem)
            .arg("--token-out")
            .arg(&link),
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(count(), before, "an account was created");

    // A software key others can read is refused, so is one reached through a link.
    let shared_key = dir.path().join("shared.key.pem");
    std::fs::copy(emu.admin_key_path(), &shared_key).expect("copy key");
    chmod(&shared_key, 0o666);
    let (code, _, err) = output(
        admin(&emu)
            .env("DFNS_SIGNING_KEY", format!("file:{}", shared_key.display()))
            .args(["service-account", "update", "us-x", "--name", "n"]),
    );
    assert_ne!(code, Some(0));
    assert!(err.contains("accessible by group or others"), "{err}");
    let key_link = dir.path().join("key-link.pem");
    std::os::unix::fs::symlink(emu.admin_key_path(), &key_link).expect("symlink");
    let (code, _, err) = output(
        admin(&emu)
            .env("DFNS_SIGNING_KEY", format!("file:{}", key_link.display()))
            .args(["service-account", "update", "us-x", "--name", "n"]),
    );
    assert_ne!(code, Some(0));
    assert!(err.contains("symbolic link"), "{err}");

    // The audit log: created 0600; refused when others can write it or when it is a link.
    let audit = dir.path().join("audit.jsonl");
    let key = format!("file:{}", emu.admin_key_path().display());
    let sign = |log: &std::path::Path| {
        output(
            bare()
                .args(["key", "sign-challenge", "--key", &key, "--cred-id", "c-1"])
                .args(["--challenge", "Y2hhbGxlbmdl", "--audit-log"])
                .arg(log),
        )
    };
    let (code, _, err) = sign(&audit);
    assert_eq!(code, Some(0), "{err}");
    let mode = std::fs::metadata(&audit)
        .expect("audit")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    chmod(&audit, 0o666);
    let (code, _, err) = sign(&audit);
    assert_ne!(code, Some(0));
    assert!(err.contains("accessible by group or others"), "{err}");
    let audit_link = dir.path().join("audit-link.jsonl");
    std::os::unix::fs::symlink(dir.path().join("elsewhere.jsonl"), &audit_link).expect("symlink");
    let (code, _, err) = sign(&audit_link);
    assert_ne!(code, Some(0));
    assert!(err.contains("symbolic link"), "{err}");
    assert!(!dir.path().join("elsewhere.jsonl").exists());
}

#[test]
fn a_pin_file_is_never_read_through_a_link() {
    let _serial = serial();
    let t = token();
    let dir = tempfile::tempdir().expect("tmp");
    let link = dir.path().join("pin-link");
    std::os::unix::fs::symlink(&t.pin_file, &link).expect("symlink");
    let (code, _, err) = output(
        t.cli()
            .env("DFNS_HSM_PIN_SOURCE", format!("file:{}", link.display()))
            .args(["key", "list"]),
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("symbolic link"), "{err}");
    // The file it points to is fine when named directly.
    let (code, _, err) = output(t.cli().args(["key", "list"]));
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn api_takes_a_path_not_a_url_and_signing_can_be_forced_either_way() {
    let emu = Emulator::start(&[]);
    row(
        "a full URL given as the path",
        admin(&emu).args([
            "api",
            "GET",
            &format!("{}/auth/service-accounts", emu.base_url()),
        ]),
        2,
        "give the path",
    );
    let dir = tempfile::tempdir().expect("tmp");
    let audit = dir.path().join("audit.jsonl");
    let lines = || {
        std::fs::read_to_string(&audit)
            .unwrap_or_default()
            .lines()
            .count()
    };
    // A read the table does not sign, signed on request: one audited signature.
    let (code, _, err) = output(admin(&emu).arg("--audit-log").arg(&audit).args([
        "api",
        "GET",
        "/auth/service-accounts",
        "--sign",
    ]));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(lines(), 1, "--sign made a signature");
    // A mutation the table signs, sent unsigned on request: the emulator refuses it, and
    // nothing was signed.
    let body = serde_json::json!({ "name": "unsigned", "publicKey": public_key_pem() }).to_string();
    let (code, _, err) = output(admin(&emu).arg("--audit-log").arg(&audit).args([
        "api",
        "POST",
        "/auth/service-accounts",
        "--data",
        &body,
        "--no-sign",
        "--max-attempts",
        "1",
    ]));
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(lines(), 1, "--no-sign made no signature");
}

#[test]
fn enroll_refuses_a_taken_name_before_generating_a_key_and_warns_on_a_reused_one() {
    let _serial = serial();
    let t = token();
    let emu = Emulator::start(&[]);
    let dir = tempfile::tempdir().expect("tmp");
    let as_admin = || {
        let mut c = t.cli();
        emu.as_admin(&mut c);
        c
    };
    let name = testkit::unique_label("taken");
    let label = testkit::unique_label("taken-key");
    let (code, _, err) = output(
        as_admin()
            .args([
                "service-account",
                "enroll",
                "--name",
                &name,
                "--key-label",
                &label,
            ])
            .arg("--token-out")
            .arg(dir.path().join("first.token")),
    );
    assert_eq!(code, Some(0), "{err}");
    let second_label = testkit::unique_label("never-made");
    let (code, _, err) = output(
        as_admin()
            .args(["service-account", "enroll", "--name", &name])
            .args(["--key-label", &second_label, "--token-out"])
            .arg(dir.path().join("second.token")),
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("already exists"), "{err}");
    let (_, keys, _) = output(t.cli().args(["key", "list"]));
    assert!(!keys.contains(&second_label), "a key was generated: {keys}");

    // Reusing an existing key label works and says so.
    let (code, out, err) = output(
        as_admin()
            .args(["--output", "json", "service-account", "enroll"])
            .args([
                "--name",
                &testkit::unique_label("reuse"),
                "--key-label",
                &label,
            ])
            .arg("--token-out")
            .arg(dir.path().join("third.token")),
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("warning: reused the existing key"), "{err}");
    // That key is the first account's credential: enroll says so.
    assert!(
        err.contains("warning: this public key was already registered to service account us-"),
        "{err}"
    );
    assert_eq!(json(&out)["keyGenerated"], false);
}

#[test]
fn a_bad_challenge_document_names_the_field_that_is_wrong() {
    let emu = Emulator::start(&[]);
    let key = format!("file:{}", emu.admin_key_path().display());
    let dir = tempfile::tempdir().expect("tmp");
    let doc = dir.path().join("init.json");
    std::fs::write(
        &doc,
        r#"{"challenge":"abc","challengeIdentifier":"x","allowCredentials":{"key":[{"type":"public-key","id":5}]}}"#,
    )
    .expect("write");
    let (code, _, err) = output(
        bare()
            .args(["key", "sign-challenge", "--key", &key, "--cred-id", "c-1"])
            .arg("--challenge-json")
            .arg(&doc),
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("field `allowCredentials.key[0].id`"), "{err}");
}

#[test]
fn colours_only_on_a_terminal_and_never_with_no_color() {
    let emu = Emulator::start(&[]);
    let bin = testkit::artifact::binary("dfns-hsm");
    // util-linux `script` gives the CLI a terminal; its transcript is what the terminal got.
    let on_terminal = |no_color: Option<&str>| {
        let mut env_cmd = admin(&emu);
        env_cmd.env("DFNS_HSM_LOG", "debug");
        if let Some(v) = no_color {
            env_cmd.env("NO_COLOR", v);
        }
        let out = Command::new("script")
            .args([
                "-qec",
                &format!("{} service-account list", bin.display()),
                "/dev/null",
            ])
            .envs(env_cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
            .stdin(std::process::Stdio::null())
            .output()
            .expect("util-linux script");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let coloured = on_terminal(None);
    assert!(
        coloured.contains("DEBUG"),
        "debug logs were written: {coloured}"
    );
    assert!(
        coloured.contains("\u{1b}["),
        "a terminal gets colours: {coloured:?}"
    );
    let plain = on_terminal(Some("1"));
    assert!(plain.contains("DEBUG"), "{plain}");
    assert!(
        !plain.contains("\u{1b}["),
        "NO_COLOR is honoured: {plain:?}"
    );
}
