//! No secret in any output: PINs and bearer tokens never appear in stdout, stderr, logs at
//! the most verbose level, error messages or `Debug` output.

use std::sync::Arc;

use dfns_hsm::api::{ApiUrl, AuthToken, DfnsClient};
use dfns_hsm::hsm::{Algorithm, Key, PinSource};
use dfns_hsm::signer::{HsmSigner, SoftwareSigner};
use testkit::Emulator;
use testkit::{run, serial, token, unique_label};

fn assert_clean(what: &str, text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(s.len() >= 6, "test secret too short to grep for");
        assert!(!text.contains(s), "{what} contains a secret:\n{text}");
    }
}

#[test]
fn cli_output_and_trace_logs_never_contain_pins_or_tokens() {
    let _serial = serial();
    let t = token();
    let admin_label = unique_label("sec-admin");
    let (ok, _, err) = run(t.cli().args(["key", "generate", "--label", &admin_label]));
    assert!(ok, "{err}");
    let (ok, pem, _) = run(t.cli().args(["key", "public-key", "--key", &admin_label]));
    assert!(ok);
    let pem_path = t.path().join(format!("{admin_label}.pem"));
    std::fs::write(&pem_path, pem).expect("pem");
    let emu = Emulator::start(&["--admin-public-key", pem_path.to_str().expect("utf8")]);
    let admin_token = emu.admin_token();
    let dir = tempfile::tempdir().expect("tmp");
    let token_out = dir.path().join("sa.token");

    let cli = || {
        let mut c = t.cli();
        c.env("DFNS_HSM_LOG", "trace")
            .env("RUST_LOG", "trace")
            .env("DFNS_API_URL", emu.base_url())
            .env("DFNS_AUTH_TOKEN_FILE", emu.admin_token_path())
            .env("DFNS_CRED_ID", emu.admin_cred_id())
            .env("DFNS_SIGNING_KEY", &admin_label);
        c
    };
    let label = unique_label("sec-bot");
    let mut transcript = String::new();
    let mut record = |args: &[&str]| {
        let out = cli().args(args).output().expect("spawn");
        transcript.push_str(&String::from_utf8_lossy(&out.stdout));
        transcript.push_str(&String::from_utf8_lossy(&out.stderr));
        out.status.success()
    };
    assert!(record(&[
        "service-account",
        "enroll",
        "--name",
        &label,
        "--key-label",
        &label,
        "--token-out",
        token_out.to_str().expect("utf8")
    ]));
    let sa_token = std::fs::read_to_string(&token_out).expect("token");
    assert!(record(&["--output", "json", "service-account", "list"]));
    assert!(record(&[
        "key",
        "sign-challenge",
        "--key",
        &label,
        "--cred-id",
        "c",
        "--challenge",
        "Y2g"
    ]));
    assert!(record(&["doctor", "--key", &label]));
    // Failures too: a wrong PIN, and a token file that is too open.
    let wrong = "98765432-wrong-pin";
    let out = cli()
        .env("BAD_PIN", wrong)
        .args(["--pin-source", "env:BAD_PIN", "key", "list"])
        .output()
        .expect("spawn");
    assert!(!out.status.success());
    transcript.push_str(&String::from_utf8_lossy(&out.stderr));
    let open_file = dir.path().join("open.token");
    std::fs::write(&open_file, &sa_token).expect("write");
    std::fs::set_permissions(
        &open_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .expect("chmod");
    let out = cli()
        .env("DFNS_AUTH_TOKEN_FILE", &open_file)
        .args(["service-account", "list"])
        .output()
        .expect("spawn");
    assert!(
        !out.status.success(),
        "a group/world-readable token file must be refused"
    );
    let refused = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(refused.contains("chmod 600"), "{refused}");
    transcript.push_str(&refused);

    assert!(
        transcript.contains("TRACE") || transcript.contains("DEBUG"),
        "trace logging was not on"
    );
    assert_clean(
        "CLI transcript",
        &transcript,
        &[&t.pin, wrong, &admin_token, &sa_token],
    );
}

#[tokio::test]
async fn debug_output_redacts_secrets() {
    // SoftHSM2's file store is not safe across processes: wait for the CLI test's children.
    let _serial = serial();
    let t = token();
    let tok = t.open();
    let key =
        Arc::new(Key::generate(&tok, &unique_label("dbg"), Algorithm::EcdsaP256).expect("gen"));
    let signer = HsmSigner::new(key, "cred").expect("signer");
    let secret_token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzZWNyZXQtdXNlciJ9.c2lnbmF0dXJlLXNlY3JldA";
    let auth = AuthToken::new(secret_token).expect("token");
    let client = DfnsClient::builder(
        ApiUrl::parse("http://127.0.0.1:9").expect("url"),
        auth.clone(),
    )
    .signer(Arc::new(signer.clone()))
    .build()
    .expect("client");
    let pem = p256::pkcs8::EncodePrivateKey::to_pkcs8_pem(
        &p256::SecretKey::from_slice(&[7u8; 32]).expect("scalar"),
        p256::pkcs8::LineEnding::LF,
    )
    .expect("pem");
    let software = SoftwareSigner::from_pem(&pem, "cred", "test").expect("software");
    let debug = format!(
        "{tok:?} {signer:?} {auth:?} {client:?} {software:?} {:?}",
        PinSource::Env("X".into())
    );
    let key_body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    assert_clean(
        "Debug output",
        &debug,
        &[&t.pin, secret_token, &key_body[..40]],
    );
    assert!(debug.contains("redacted"), "{debug}");
}
