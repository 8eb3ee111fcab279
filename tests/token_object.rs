//! A service account's Dfns token kept on the HSM token as a private data object
//! (`--token-out pkcs11:...;type=data`): invisible without login, written once, and usable
//! wherever a token file is (`DFNS_AUTH_TOKEN_FILE=pkcs11:...`).

use std::process::Command;

use serde_json::Value;
use testkit::{serial, token, unique_label, Emulator};

fn admin(emu: &Emulator) -> Command {
    let mut c = token().cli();
    emu.as_admin(&mut c);
    c
}

fn output(c: &mut Command) -> (Option<i32>, String, String) {
    let out = c.output().expect("spawn");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `pkcs11-tool` on the test token, logged in or not.
fn pkcs11_tool(login: bool) -> Command {
    let t = token();
    let mut c = Command::new("pkcs11-tool");
    c.envs(t.env())
        .arg("--module")
        .arg(&t.module)
        .args(["--token-label", &t.label]);
    if login {
        c.args(["--login", "--pin", &t.pin]);
    }
    c
}

#[test]
fn an_accounts_token_kept_on_the_hsm_is_private_written_once_and_usable() {
    let _serial = serial();
    let emu = Emulator::start(&[]);
    let (code, perm, err) = output(admin(&emu).args([
        "--output",
        "json",
        "permission",
        "create",
        "--name",
        &unique_label("reader"),
        "--operation",
        "Auth:ServiceAccounts:Read",
    ]));
    assert_eq!(code, Some(0), "{err}");
    let perm: Value = serde_json::from_str(&perm).expect("json");
    let perm = perm["id"].as_str().expect("id").to_owned();

    let object = unique_label("sa-token");
    let uri = format!("pkcs11:object={object};type=data");
    let (code, out, err) = output(admin(&emu).args([
        "--output",
        "json",
        "service-account",
        "enroll",
        "--name",
        &unique_label("on-hsm"),
        "--key-label",
        &unique_label("on-hsm-key"),
        "--permission-id",
        &perm,
        "--token-out",
        &uri,
    ]));
    assert_eq!(code, Some(0), "{err}");
    let enrolled: Value = serde_json::from_str(&out).expect("json");
    let stored = enrolled["tokenFile"]
        .as_str()
        .expect("where the token went");
    assert!(
        stored.starts_with("pkcs11:") && stored.contains(&object) && stored.contains("type=data"),
        "{stored}"
    );

    // Invisible without the PIN; there with it, holding the account's token.
    let (_, public_view, _) = output(pkcs11_tool(false).args(["--list-objects", "--type", "data"]));
    assert!(
        !public_view.contains(&object),
        "visible without login: {public_view}"
    );
    let (code, value, err) =
        output(pkcs11_tool(true).args(["--read-object", "--type", "data", "--label", &object]));
    assert_eq!(code, Some(0), "{err}");
    assert!(value.starts_with("eyJ"), "a JWT is stored");
    let (code, _, _) =
        output(pkcs11_tool(false).args(["--read-object", "--type", "data", "--label", &object]));
    assert_ne!(code, Some(0), "readable without login");

    // Every command takes it where it takes a token file.
    let (code, out, err) = output(admin(&emu).env("DFNS_AUTH_TOKEN_FILE", &uri).args([
        "--output",
        "json",
        "service-account",
        "list",
    ]));
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains(enrolled["serviceAccountId"].as_str().expect("id")));

    // Written once: the same destination is refused before anything is created.
    let (_, before, _) = output(admin(&emu).args(["--output", "json", "service-account", "list"]));
    let (code, _, err) = output(admin(&emu).args([
        "service-account",
        "enroll",
        "--name",
        &unique_label("again"),
        "--key-label",
        &unique_label("again-key"),
        "--token-out",
        &uri,
    ]));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("already exists"), "{err}");
    let (_, after, _) = output(admin(&emu).args(["--output", "json", "service-account", "list"]));
    let n = |s: &str| {
        serde_json::from_str::<Value>(s).expect("json")["items"]
            .as_array()
            .map(Vec::len)
    };
    assert_eq!(n(&before), n(&after), "an account was created");

    // Removed only on request, with --yes.
    let (code, _, err) = output(
        token()
            .cli()
            .args(["key", "delete-token", "--object", &uri]),
    );
    assert_eq!(code, Some(2), "{err}");
    let (code, _, err) =
        output(
            token()
                .cli()
                .args(["key", "delete-token", "--object", &uri, "--yes"]),
        );
    assert_eq!(code, Some(0), "{err}");
    let (_, listed, _) = output(pkcs11_tool(true).args(["--list-objects", "--type", "data"]));
    assert!(!listed.contains(&object), "still there: {listed}");

    // A public data object planted under that label without the PIN is never read as the
    // account's token.
    let planted = tempfile::NamedTempFile::new().expect("tmp");
    std::fs::write(
        planted.path(),
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwbGFudGVkIn0.c2ln",
    )
    .expect("write");
    let (code, _, err) = output(
        pkcs11_tool(false)
            .arg("--write-object")
            .arg(planted.path())
            .args(["--type", "data", "--label", &object]),
    );
    if code != Some(0) {
        println!("skipped the planted-object part: the token refuses a public data object without login: {}", err.trim());
        return;
    }
    let (code, _, err) = output(
        admin(&emu)
            .env("DFNS_AUTH_TOKEN_FILE", &uri)
            .args(["service-account", "list"]),
    );
    assert_ne!(
        code,
        Some(0),
        "a planted public object was used as the token"
    );
    assert!(err.contains("no data object"), "{err}");
}
