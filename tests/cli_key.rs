//! The `dfns-hsm` binary against a real SoftHSM2 token: key commands, token list, doctor, and
//! the errors a user meets (wrong PIN, missing key, wrong token, bad module, bad URI).

use dfns_hsm::hsm::Algorithm;
use serde_json::Value;
use testkit::verify::assert_first_factor_verifies;
use testkit::{run, serial, token, unique_label, LABEL};

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

#[test]
fn generate_list_export_and_sign_for_every_algorithm() {
    let _serial = serial();
    let t = token();
    let mut generated_count = 0;
    for alg in Algorithm::ALL {
        let label = unique_label(&format!("cli-{}", alg.name()));
        let (ok, out, err) = run(t.cli().args([
            "--output",
            "json",
            "key",
            "generate",
            "--label",
            &label,
            "--algorithm",
            alg.name(),
        ]));
        if !t.require(&format!("generate_list_export_and_sign ({alg})"), alg) {
            // What the module lacks is refused with an error naming the algorithm and module.
            assert!(
                !ok,
                "generate {alg} succeeded on a module said to lack it: {out}"
            );
            // The module is named by the path it resolves to (what was actually loaded).
            let module = std::fs::canonicalize(&t.module).unwrap_or_else(|_| t.module.clone());
            assert!(
                err.contains(alg.name()) && err.contains(&module.display().to_string()),
                "{err}"
            );
            continue;
        }
        assert!(ok, "generate {alg}: {err}");
        generated_count += 1;
        let generated = json(&out);
        assert_eq!(generated["algorithm"], alg.name());
        let uri = generated["uri"].as_str().expect("uri").to_owned();
        assert!(uri.starts_with("pkcs11:") && uri.contains(&label), "{uri}");
        let pem = generated["publicKeyPem"].as_str().expect("pem").to_owned();

        // public-key by label and by URI gives the same PEM, printed bare for piping.
        let (ok, by_label, err) = run(t.cli().args(["key", "public-key", "--key", &label]));
        assert!(ok, "{err}");
        assert_eq!(by_label.trim(), pem.trim());
        let (ok, by_uri, err) = run(t.cli().args(["key", "public-key", "--key", &uri]));
        assert!(ok, "{err}");
        assert_eq!(by_uri.trim(), pem.trim());

        // sign-challenge prints a firstFactor that openssl verifies over the clientData bytes.
        let (ok, out, err) = run(t.cli().args([
            "key",
            "sign-challenge",
            "--key",
            &uri,
            "--cred-id",
            "cred-x",
            "--challenge",
            "Y2gtY2xp",
        ]));
        assert!(ok, "sign-challenge {alg}: {err}");
        assert_first_factor_verifies(t.path(), alg, &pem, &out, "cred-x", "Y2gtY2xp");
    }
    let (ok, out, err) = run(t.cli().args(["--output", "json", "key", "list"]));
    assert!(ok, "{err}");
    let keys = json(&out)["keys"].as_array().expect("keys").clone();
    assert!(generated_count > 0 && keys.len() >= generated_count);
    for k in keys {
        assert_eq!(k["attributes"]["extractable"], false, "{k}");
        assert_eq!(k["attributes"]["sensitive"], true, "{k}");
    }
}

#[test]
fn sign_challenge_reads_a_challenge_document_and_checks_allow_credentials() {
    let _serial = serial();
    let t = token();
    let label = unique_label("cli-json");
    let (ok, _, err) = run(t.cli().args(["key", "generate", "--label", &label]));
    assert!(ok, "{err}");
    let doc = t.path().join(format!("{label}.json"));
    std::fs::write(
        &doc,
        r#"{"challenge":"Y2gtZG9j","challengeIdentifier":"eyJ","allowCredentials":{"key":[{"type":"public-key","id":"cred-a"}],"webauthn":[]},"newField":1}"#,
    )
    .expect("write");
    let audit = t.path().join(format!("{label}.audit"));
    let (ok, out, err) = run(t
        .cli()
        .arg("--audit-log")
        .arg(&audit)
        .args([
            "key",
            "sign-challenge",
            "--key",
            &label,
            "--cred-id",
            "cred-a",
            "--challenge-json",
        ])
        .arg(&doc));
    assert!(ok, "{err}");
    assert_eq!(json(&out)["credentialAssertion"]["credId"], "cred-a");
    let (ok, _, err) = run(t
        .cli()
        .arg("--audit-log")
        .arg(&audit)
        .args([
            "key",
            "sign-challenge",
            "--key",
            &label,
            "--cred-id",
            "cred-b",
            "--challenge-json",
        ])
        .arg(&doc));
    assert!(!ok);
    assert!(err.contains("cred-b") && err.contains("cred-a"), "{err}");
    // Both attempts are in the audit trail, the refusal with its reason.
    let lines: Vec<Value> = std::fs::read_to_string(&audit)
        .expect("audit")
        .lines()
        .map(json)
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["outcome"], "ok");
    assert_eq!(
        lines[0]["method"],
        Value::Null,
        "a delegated signature has no request"
    );
    assert!(lines[1]["outcome"]
        .as_str()
        .is_some_and(|o| o.starts_with("error:") && o.contains("cred-b")));
}

#[test]
fn token_list_shows_label_serial_and_mechanisms() {
    let _serial = serial();
    let t = token();
    let (ok, out, err) = run(t.cli().args(["--output", "json", "token", "list"]));
    assert!(ok, "{err}");
    let tokens = json(&out)["tokens"].as_array().expect("tokens").clone();
    let ours = tokens
        .iter()
        .find(|x| x["label"] == LABEL)
        .expect("our token listed");
    assert!(!ours["serial"].as_str().unwrap_or_default().is_empty());
    let mechs: Vec<&str> = ours["mechanisms"]
        .as_array()
        .expect("mechs")
        .iter()
        .filter_map(|m| m.as_str())
        .collect();
    assert!(mechs.contains(&"CKM_ECDSA"), "{mechs:?}");
    // EdDSA is listed exactly when pkcs11-tool (asked by the test kit) sees it.
    assert_eq!(
        mechs.contains(&"CKM_EDDSA"),
        t.supports(Algorithm::Ed25519),
        "{mechs:?}"
    );
}

#[test]
fn doctor_passes_on_a_good_setup_and_examines_a_key() {
    let _serial = serial();
    let t = token();
    let label = unique_label("doctor");
    let (ok, _, err) = run(t.cli().args(["key", "generate", "--label", &label]));
    assert!(ok, "{err}");
    let (ok, out, err) = run(t
        .cli()
        .args(["--output", "json", "doctor", "--key", &label]));
    assert!(ok, "doctor failed: {out} {err}");
    let report = json(&out);
    assert_eq!(report["ok"], true);
    let names: Vec<&str> = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    for n in ["module", "token", "login", "mechanisms", "key", "signature"] {
        assert!(names.contains(&n), "missing check {n}: {names:?}");
    }
    // No API here: the checks that need one did not run, and say so rather than "ok".
    for n in ["api", "identity"] {
        let c = report["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .find(|c| c["name"] == n)
            .unwrap_or_else(|| panic!("no {n} check: {report}"))
            .clone();
        assert_eq!(c["status"], "skipped", "{c}");
        assert!(
            c["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with("not checked")),
            "{c}"
        );
    }
    let (ok, out, err) = run(t
        .cli()
        .env_remove("DFNS_API_URL")
        .args(["doctor", "--key", &label]));
    assert!(ok, "{err}");
    assert!(out.contains("[skip] api "), "{out}");
}

#[test]
fn a_wrong_pin_is_tried_exactly_once_with_a_clear_error() {
    let _serial = serial();
    let t = token();
    // A wrong PIN on a TPM counts towards its dictionary-attack lockout, which would lock
    // every later test out; pkcs11-spy wraps the module directly.
    if !t.require_softhsm2(
        "a_wrong_pin_is_tried_exactly_once_with_a_clear_error",
        "counts C_Login with pkcs11-spy around SoftHSM2; on a TPM a wrong PIN also feeds its dictionary-attack lockout",
    ) {
        return;
    }
    let spy = [
        "/usr/lib/x86_64-linux-gnu/pkcs11/pkcs11-spy.so",
        "/usr/lib/x86_64-linux-gnu/pkcs11-spy.so",
        "/usr/lib/pkcs11/pkcs11-spy.so",
        "/usr/lib/aarch64-linux-gnu/pkcs11/pkcs11-spy.so",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .expect("OpenSC's pkcs11-spy is not installed: run scripts/test.sh (installs opensc)");
    let log = t.path().join(format!("spy-{}.log", unique_label("pin")));
    let (ok, out, err) = run(t
        .cli()
        .env("DFNS_HSM_MODULE", spy)
        .env("PKCS11SPY", &t.module)
        .env("PKCS11SPY_OUTPUT", &log)
        .env("WRONG_PIN", "00000000-not-it")
        .args(["--pin-source", "env:WRONG_PIN", "key", "list"]));
    assert!(!ok, "a wrong PIN must fail: {out}");
    assert!(
        err.contains("CKR_PIN_INCORRECT") && err.contains("not retried"),
        "{err}"
    );
    assert_eq!(
        err.matches("error:").count(),
        1,
        "one error, not a cascade: {err}"
    );
    assert!(
        !err.contains("00000000-not-it"),
        "the PIN leaked into the error: {err}"
    );
    let calls = std::fs::read_to_string(&log).expect("spy log");
    let logins = calls.lines().filter(|l| l.contains("C_Login")).count();
    assert_eq!(logins, 1, "C_Login calls seen by pkcs11-spy");
    // The token is not locked: the right PIN still works.
    let (ok, _, err) = run(t.cli().args(["key", "list"]));
    assert!(ok, "{err}");
}

#[test]
fn a_missing_key_gets_a_hint_naming_the_command_that_lists_keys() {
    let _serial = serial();
    let t = token();
    let (ok, _, err) = run(t.cli().args(["key", "public-key", "--key", "no-such-key"]));
    assert!(!ok);
    assert!(err.contains("error: no private key"), "{err}");
    assert!(err.contains("no-such-key"), "{err}");
    assert!(
        err.contains("\nhint: list keys with `dfns-hsm key list`"),
        "{err}"
    );
}

#[test]
fn user_errors_are_clear_and_exit_non_zero() {
    let _serial = serial();
    let t = token();
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec!["key", "public-key", "--key", "no-such-key"],
            vec![],
            "no-such-key",
        ),
        (
            vec!["key", "list"],
            vec![("DFNS_HSM_TOKEN", "not-a-token")],
            "not-a-token",
        ),
        (
            vec!["key", "list"],
            vec![("DFNS_HSM_MODULE", "/nonexistent/libpkcs11.so")],
            "/nonexistent/libpkcs11.so",
        ),
        (
            vec![
                "key",
                "public-key",
                "--key",
                "pkcs11:token=a;token=b;object=x",
            ],
            vec![],
            "token",
        ),
        (
            vec![
                "key",
                "public-key",
                "--key",
                "pkcs11:object=x?pin-value=1234",
            ],
            vec![],
            "pin-value",
        ),
        (
            vec!["key", "generate", "--label", "x", "--algorithm", "p-384"],
            vec![],
            "ecdsa-p256",
        ),
    ];
    for (args, env, needle) in cases {
        let mut cmd = t.cli();
        for (k, v) in &env {
            cmd.env(k, v);
        }
        let out = cmd.args(&args).output().expect("spawn");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert_ne!(out.status.code(), Some(0));
        assert!(
            err.contains(needle),
            "{args:?}: error should mention {needle:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn an_existing_label_is_refused_by_the_cli() {
    let _serial = serial();
    let t = token();
    let label = unique_label("cli-dup");
    let (ok, _, err) = run(t.cli().args(["key", "generate", "--label", &label]));
    assert!(ok, "{err}");
    let (ok, _, err) = run(t.cli().args(["key", "generate", "--label", &label]));
    assert!(!ok);
    assert!(
        err.contains("already exists") && err.contains(&label),
        "{err}"
    );
}

#[test]
fn the_pin_can_be_typed_at_a_prompt_and_no_terminal_is_a_clear_error() {
    let _serial = serial();
    let t = token();
    // util-linux `script` gives the CLI a terminal; the PIN is typed into it.
    let bin = env!("CARGO_BIN_EXE_dfns-hsm");
    let mut cmd = t.cli();
    let cmd = cmd
        .env("DFNS_HSM_PIN_SOURCE", "prompt")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = std::process::Command::new("script")
        .args(["-qec", &format!("{bin} key list"), "/dev/null"])
        .envs(cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("util-linux script");
    {
        use std::io::Write as _;
        let stdin = child.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{}", t.pin).expect("type the PIN");
    }
    let out = child.wait_with_output().expect("wait");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("PIN for token"), "a prompt was shown: {text}");
    assert!(text.contains("key(s) on token"), "{text}");

    // Without a terminal (a service, CI), the prompt cannot work: say what to use instead.
    let out = std::process::Command::new("setsid")
        .arg("--wait")
        .arg(bin)
        .args(["key", "list"])
        .envs(t.cli().get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
        .env("DFNS_HSM_PIN_SOURCE", "prompt")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("setsid");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("--pin-source env:VAR or file:PATH"), "{err}");
}

#[test]
fn two_tokens_with_one_label_get_the_advice_to_select_by_serial() {
    let t = token();
    if !t.require_softhsm2(
        "two_tokens_with_one_label_get_the_advice_to_select_by_serial",
        "makes two SoftHSM2 tokens with softhsm2-util",
    ) {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let conf = dir.path().join("softhsm2.conf");
    std::fs::create_dir(dir.path().join("tokens")).expect("tokens dir");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            dir.path().join("tokens").display()
        ),
    )
    .expect("conf");
    for _ in 0..2 {
        let (ok, _, err) = run(std::process::Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &conf)
            .args(["--init-token", "--free", "--label", "twin"])
            .args(["--pin", &t.pin, "--so-pin", &t.so_pin]));
        assert!(ok, "{err}");
    }
    let (ok, _, err) = run(t
        .cli()
        .env("SOFTHSM2_CONF", &conf)
        .args(["key", "list", "--token", "twin"]));
    assert!(!ok);
    assert!(
        err.contains("2 tokens match label \"twin\"") && err.contains("their serials differ"),
        "{err}"
    );
    assert!(
        err.contains("--token-serial"),
        "the hint names the option: {err}"
    );
}

#[test]
fn tpm_tokens_share_one_serial_and_an_uninitialized_slot_is_passed_over() {
    let t = token();
    if t.implementation != testkit::Implementation::Tpm2 {
        eprintln!(
            "skipped tpm_tokens_share_one_serial_and_an_uninitialized_slot_is_passed_over: \
             tpm2-pkcs11 only (this run is on {})",
            t.implementation
        );
        return;
    }
    let _serial = serial();
    // A store of its own with two tokens: tpm2-pkcs11 gives both serial 0000000000000000.
    let store = tempfile::tempdir().expect("tmp");
    let ptool = |args: &[&str]| {
        let (ok, _, err) = run(std::process::Command::new("tpm2_ptool")
            .envs(t.env())
            .args(args)
            .arg("--path")
            .arg(store.path()));
        assert!(ok, "tpm2_ptool {}: {err}", args[0]);
    };
    ptool(&["init", "--transient-parent", "tpm2-tools-ecc-default"]);
    for label in ["tpm-a", "tpm-b"] {
        ptool(&[
            "addtoken",
            "--pid=1",
            &format!("--label={label}"),
            &format!("--userpin={}", t.pin),
            &format!("--sopin={}", t.so_pin),
        ]);
    }
    let cli = || {
        let mut c = t.cli();
        c.env("TPM2_PKCS11_STORE", store.path());
        c
    };
    let (ok, out, err) = run(cli().args(["token", "list"]));
    assert!(ok, "{err}");
    assert!(
        out.contains("\"tpm-a\" serial 0000000000000000")
            && out.contains("\"tpm-b\" serial 0000000000000000"),
        "{out}"
    );
    assert!(out.contains("token not initialized"), "{out}");
    // By label: exactly one matches, the uninitialized slot does not get in the way.
    let (ok, out, err) = run(cli().args(["key", "list", "--token", "tpm-b"]));
    assert!(ok, "{err}");
    assert!(out.contains("\"tpm-b\""), "{out}");
    // By serial: both match, and the advice is the label, not the serial.
    let (ok, _, err) = run(cli().args(["key", "list", "--token-serial", "0000000000000000"]));
    assert!(!ok);
    assert!(
        err.contains("2 tokens match serial") && err.contains("their labels differ"),
        "{err}"
    );
    assert!(!err.contains("select by serial"), "{err}");
    assert!(
        err.contains("--token "),
        "the hint names the label option: {err}"
    );
}

/// SHA-256 of the SPKI DER inside a PEM, hex: computed here, not by dfns-hsm.
fn spki_sha256(pem: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .expect("PEM body");
    hex::encode(sha2::Sha256::digest(der))
}

#[test]
fn key_delete_destroys_exactly_its_pair_and_needs_yes() {
    let _serial = serial();
    let t = token();
    let label = unique_label("doomed");
    let (ok, out, err) = run(t
        .cli()
        .args(["--output", "json", "key", "generate", "--label", &label]));
    assert!(ok, "{err}");
    let generated = json(&out);
    let uri = generated["uri"].as_str().expect("uri").to_owned();
    let id = generated["id"].as_str().expect("id").to_owned();
    let fingerprint = spki_sha256(generated["publicKeyPem"].as_str().expect("pem"));
    let listed = |label: &str| -> Vec<String> {
        let (ok, out, err) = run(t.cli().args(["--output", "json", "key", "list"]));
        assert!(ok, "{err}");
        json(&out)["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .filter(|k| k["label"] == label)
            .map(|k| k["id"].as_str().expect("id").to_owned())
            .collect()
    };
    let objects = |label: &str| -> String {
        let (ok, out, err) = run(t.pkcs11_tool().args(["--list-objects", "--label", label]));
        assert!(ok, "pkcs11-tool --list-objects: {err}");
        out
    };

    // Without --yes: a usage error, and the key stays.
    let out = t
        .cli()
        .args(["key", "delete", "--key", &label])
        .output()
        .expect("spawn");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--yes") && err.contains("nothing was destroyed"),
        "{err}"
    );
    assert_eq!(listed(&label), vec![id.clone()]);

    // A second pair with the same label and another id: the label alone is ambiguous, and
    // refused with nothing destroyed.
    let other_id = "0badc0de0badc0de";
    let (ok, _, err) = run(t.pkcs11_tool().args([
        "--keypairgen",
        "--key-type",
        "EC:prime256v1",
        "--usage-sign",
        "--sensitive",
        "--id",
        other_id,
        "--label",
        &label,
    ]));
    assert!(ok, "pkcs11-tool --keypairgen: {err}");
    let out = t
        .cli()
        .args(["key", "delete", "--key", &label, "--yes"])
        .output()
        .expect("spawn");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "an ambiguous label was deleted");
    assert!(err.contains("2 keys match"), "{err}");
    let mut both = listed(&label);
    both.sort();
    let mut expected = vec![id.clone(), other_id.to_owned()];
    expected.sort();
    assert_eq!(both, expected, "nothing was destroyed");

    // By URI (label and id): that pair goes, with its URI and fingerprint printed.
    let (ok, out, err) = run(t
        .cli()
        .args(["--output", "json", "key", "delete", "--key", &uri, "--yes"]));
    assert!(ok, "key delete: {err}");
    let deleted = json(&out);
    assert_eq!(deleted["uri"], uri.as_str(), "{deleted}");
    assert_eq!(deleted["id"], id.as_str(), "{deleted}");
    assert_eq!(
        deleted["publicKeySha256"],
        fingerprint.as_str(),
        "{deleted}"
    );
    assert_eq!(deleted["publicObjectDestroyed"], true, "{deleted}");
    assert_eq!(listed(&label), vec![other_id.to_owned()]);
    let left = objects(&label);
    assert!(
        !left.contains(&id),
        "an object of the deleted pair is still on the token: {left}"
    );
    assert_eq!(
        left.matches(other_id).count(),
        2,
        "the other pair sharing the label (private and public) must stay: {left}"
    );

    // Deleting it again: a clear error naming the key, nothing else touched.
    let out = t
        .cli()
        .args(["key", "delete", "--key", &uri, "--yes"])
        .output()
        .expect("spawn");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("error: no private key labelled") && err.contains(&label) && err.contains(&id),
        "{err}"
    );
    assert!(err.contains("dfns-hsm key list"), "{err}");
    assert_eq!(listed(&label), vec![other_id.to_owned()]);

    // The human form names the URI and the fingerprint too.
    let (ok, out, err) = run(t.cli().args(["key", "delete", "--key", &label, "--yes"]));
    assert!(ok, "{err}");
    assert!(out.contains("sha256: ") && out.contains(other_id), "{out}");
    assert!(listed(&label).is_empty());
    assert!(!objects(&label).contains(&label), "{}", objects(&label));
}
