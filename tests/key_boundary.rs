//! The key boundary: what a token, a `pkcs11:` URI or the environment hands us is untrusted.
//!
//! Each test reproduces an attack against the real SoftHSM2 token and the real emulator:
//! a public key planted by a session without the PIN, two pairs sharing a `CKA_ID`, a URI
//! naming another PKCS#11 library, proxy variables that would see the bearer token of
//! loopback traffic, and keys that can be extracted or decrypt, unwrap or derive.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::Value;
use testkit::{run, serial, token, unique_label, Emulator};

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// `pkcs11-tool` on the test token with no login: what anyone with the token's files (or
/// a read/write public session) can do.
fn pkcs11_tool_no_login() -> Command {
    let t = token();
    let mut c = Command::new("pkcs11-tool");
    c.envs(t.env())
        .arg("--module")
        .arg(&t.module)
        .args(["--token-label", &t.label]);
    c
}

/// Generate a key with the CLI; its CKA_ID (hex) and public key PEM.
fn generate(label: &str) -> (String, String) {
    let (ok, out, err) = run(token()
        .cli()
        .args(["--output", "json", "key", "generate", "--label", label]));
    assert!(ok, "key generate: {err}");
    let v = json(&out);
    (
        v["id"].as_str().expect("id").to_owned(),
        v["publicKeyPem"].as_str().expect("pem").to_owned(),
    )
}

/// A fresh P-256 key made by openssl: (public key PEM, public key DER file).
fn outside_public_key(dir: &Path, name: &str) -> (String, PathBuf) {
    let key = dir.join(format!("{name}.key.pem"));
    let der = dir.join(format!("{name}.pub.der"));
    let (ok, _, err) = run(Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ])
        .arg(&key));
    assert!(ok, "openssl genpkey: {err}");
    let (ok, _, err) = run(Command::new("openssl")
        .args(["pkey", "-pubout", "-outform", "DER", "-in"])
        .arg(&key)
        .arg("-out")
        .arg(&der));
    assert!(ok, "openssl pkey: {err}");
    let (ok, pem, err) = run(Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&key));
    assert!(ok, "openssl pkey: {err}");
    (pem.trim().to_owned(), der)
}

/// The base64 body of a PEM, to look for it in any output whatever its line breaks.
fn pem_body(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

/// Whether the attack could be staged. On SoftHSM2 (directly or over p11-kit) it must be;
/// another implementation may refuse the staging itself, and then the test is skipped with the
/// reason, since an attack the token refuses is no attack there.
fn staged(test: &str, what: &str, ok: bool, err: &str) -> bool {
    if ok {
        return true;
    }
    let implementation = token().implementation;
    if implementation == testkit::Implementation::Tpm2 {
        println!(
            "skipped {test}: {} refuses {what}: {}",
            implementation.name(),
            err.trim()
        );
        return false;
    }
    panic!("{what} failed: {err}");
}

/// Write `der` as a public-key object with `id` and `label`, without logging in.
fn plant_public_key(test: &str, der: &Path, id: &str, label: &str) -> bool {
    let (ok, out, err) = run(pkcs11_tool_no_login()
        .arg("--write-object")
        .arg(der)
        .args(["--type", "pubkey", "--id", id, "--label", label]));
    staged(
        test,
        "planting a public key without the PIN",
        ok,
        &format!("{out}{err}"),
    )
}

/// An emulator whose admin key is the token key `label`, and a CLI configured as that admin.
struct Admin {
    emu: Emulator,
    label: String,
}

impl Admin {
    fn start(label: &str) -> Admin {
        let t = token();
        let (ok, pem, err) = run(t.cli().args(["key", "public-key", "--key", label]));
        assert!(ok, "{err}");
        let pem_path = t.path().join(format!("{label}.admin.pem"));
        std::fs::write(&pem_path, pem).expect("write pem");
        Admin {
            emu: Emulator::start(&["--admin-public-key", pem_path.to_str().expect("utf8")]),
            label: label.to_owned(),
        }
    }

    fn with_new_key() -> Admin {
        let label = unique_label("kb-admin");
        generate(&label);
        Admin::start(&label)
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

// ---------------------------------------------------------------------------------------
// 1. A planted public key.

#[test]
fn a_public_key_planted_without_the_pin_is_never_exported_or_registered() {
    let _serial = serial();
    let admin = Admin::with_new_key();
    let dir = tempfile::tempdir().expect("tmp");
    let k1 = unique_label("k1");
    let (id, _) = generate(&k1);
    let (planted, der) = outside_public_key(dir.path(), "planted");
    if !plant_public_key(
        "a_public_key_planted_without_the_pin_is_never_exported_or_registered",
        &der,
        &id,
        &k1,
    ) {
        return;
    }
    let planted_body = pem_body(&planted);

    let (ok, out, err) = run(token().cli().args(["key", "public-key", "--key", &k1]));
    assert!(
        !ok,
        "public-key printed a key although two public objects claim it: {out}"
    );
    assert!(!out.contains(&planted_body), "the planted key was printed");
    assert!(
        err.contains("2 public-key objects") && err.contains(&k1) && err.contains(&id),
        "the error names the candidates: {err}"
    );

    let before = admin.count();
    let (ok, out, err) = run(admin.cli().args([
        "service-account",
        "create",
        "--name",
        &unique_label("planted"),
        "--key",
        &k1,
        "--print-token",
    ]));
    assert!(
        !ok,
        "create registered a key with two public objects: {out}"
    );
    assert!(err.contains("public-key objects"), "{err}");
    let (ok, out, err) = run(admin.cli().args([
        "service-account",
        "enroll",
        "--name",
        &unique_label("planted"),
        "--key-label",
        &k1,
        "--print-token",
    ]));
    assert!(
        !ok,
        "enroll registered a key with two public objects: {out}"
    );
    assert!(err.contains("public-key objects"), "{err}");
    assert_eq!(admin.count(), before, "no account was created");
}

#[test]
fn a_lone_public_key_that_does_not_match_its_private_key_is_refused() {
    // The genuine public object is gone (or never existed: some tokens keep only the private
    // object) and a planted one has taken its id: only a signature can tell.
    let _serial = serial();
    let admin = Admin::with_new_key();
    let dir = tempfile::tempdir().expect("tmp");
    let k = unique_label("lone");
    let (id, _) = generate(&k);
    let (ok, _, err) =
        run(token()
            .pkcs11_tool()
            .args(["--delete-object", "--type", "pubkey", "--id", &id]));
    assert!(ok, "delete the genuine public key: {err}");
    let (planted, der) = outside_public_key(dir.path(), "lone");
    if !plant_public_key(
        "a_lone_public_key_that_does_not_match_its_private_key_is_refused",
        &der,
        &id,
        &k,
    ) {
        return;
    }
    let planted_body = pem_body(&planted);

    let (ok, out, err) = run(token().cli().args(["key", "public-key", "--key", &k]));
    assert!(!ok, "public-key printed an unproven key: {out}");
    assert!(!out.contains(&planted_body));
    assert!(
        err.contains("does not match its private key") && err.contains(&k),
        "{err}"
    );
    let before = admin.count();
    let (ok, out, err) = run(admin.cli().args([
        "service-account",
        "enroll",
        "--name",
        &unique_label("lone"),
        "--key-label",
        &k,
        "--print-token",
    ]));
    assert!(!ok, "enroll registered an unproven key: {out}");
    assert!(err.contains("does not match its private key"), "{err}");
    let (ok, out, err) = run(admin.cli().args([
        "service-account",
        "create",
        "--name",
        &unique_label("lone"),
        "--key",
        &k,
        "--print-token",
    ]));
    assert!(!ok, "create registered an unproven key: {out}");
    assert!(err.contains("does not match its private key"), "{err}");
    assert_eq!(admin.count(), before);

    let (ok, out, _) = run(token().cli().args(["doctor", "--key", &k]));
    assert!(!ok, "doctor passed an unproven key: {out}");
}

// ---------------------------------------------------------------------------------------
// 2. Pairs sharing a CKA_ID.

#[test]
fn pairs_sharing_an_id_never_cross() {
    let _serial = serial();
    let t1 = unique_label("t1");
    let t2 = unique_label("t2");
    let (id, t1_pem) = generate(&t1);
    let (ok, _, err) = run(token().pkcs11_tool().args([
        "--keypairgen",
        "--key-type",
        "EC:prime256v1",
        "--usage-sign",
        "--sensitive",
        "--id",
        &id,
        "--label",
        &t2,
    ]));
    assert!(ok, "pkcs11-tool --keypairgen: {err}");
    for label in [&t2, &t1] {
        let (ok, out, err) = run(token().cli().args(["key", "public-key", "--key", label]));
        assert!(
            !ok,
            "{label}: a key was printed although two pairs share its id: {out}"
        );
        assert!(
            !out.contains(&pem_body(&t1_pem)),
            "{label}: t1's key was printed"
        );
        assert!(
            err.contains("2 public-key objects")
                && err.contains(&t1)
                && err.contains(&t2)
                && err.contains(&id),
            "the error names both candidates: {err}"
        );
    }
}

#[test]
fn a_uri_with_object_and_id_must_match_both() {
    let _serial = serial();
    let a = unique_label("both-a");
    let b = unique_label("both-b");
    let (id_a, _) = generate(&a);
    let (id_b, pem_b) = generate(&b);
    let t = token();
    let pct = |id: &str| {
        id.as_bytes()
            .chunks(2)
            .map(|c| format!("%{}", std::str::from_utf8(c).expect("hex")))
            .collect::<String>()
    };
    let crossed = format!("pkcs11:token={};object={a};id={}", t.label, pct(&id_b));
    let (ok, out, err) = run(t.cli().args(["key", "public-key", "--key", &crossed]));
    assert!(
        !ok,
        "a URI whose label and id name two keys found one: {out}"
    );
    assert!(!out.contains(&pem_body(&pem_b)));
    assert!(err.contains(&a) && err.contains(&id_b), "{err}");
    let exact = format!("pkcs11:token={};object={b};id={}", t.label, pct(&id_b));
    let (ok, out, err) = run(t.cli().args(["key", "public-key", "--key", &exact]));
    assert!(ok, "{err}");
    assert_eq!(pem_body(&out), pem_body(&pem_b));
    assert_ne!(id_a, id_b);
}

// ---------------------------------------------------------------------------------------
// 3. A URI's module-path.

/// A shared library whose constructor writes `marker` when it is loaded.
fn marker_library(dir: &Path, marker: &Path) -> PathBuf {
    let src = dir.join("evil.c");
    let lib = dir.join("libevil.so");
    std::fs::write(
        &src,
        format!(
            "#include <stdio.h>\n\
             __attribute__((constructor)) static void loaded(void) {{\n\
               FILE *f = fopen(\"{}\", \"w\"); if (f) {{ fputs(\"loaded\", f); fclose(f); }}\n\
             }}\n",
            marker.display()
        ),
    )
    .expect("write evil.c");
    let (ok, _, err) = run(Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(&src));
    assert!(ok, "cc: {err}");
    lib
}

#[test]
fn a_uri_module_path_cannot_load_another_library() {
    let _serial = serial();
    let t = token();
    let dir = tempfile::tempdir().expect("tmp");
    let marker = dir.path().join("loaded");
    let evil = marker_library(dir.path(), &marker);
    let k = unique_label("modpath");
    generate(&k);
    let uri = format!(
        "pkcs11:token={};object={k}?module-path={}",
        t.label,
        evil.display()
    );

    // The flag-given --key.
    let (ok, out, err) = run(t.cli().args(["key", "public-key", "--key", &uri]));
    assert!(!ok, "{out}");
    assert!(!marker.exists(), "the URI's module was loaded");
    assert!(
        err.contains("module-path") && err.contains(&evil.display().to_string()),
        "{err}"
    );

    // DFNS_SIGNING_KEY for a signed call, and doctor.
    let (ok, _, err) = run(t
        .cli()
        .env("DFNS_API_URL", "http://127.0.0.1:9")
        .env("DFNS_AUTH_TOKEN", "x")
        .env("DFNS_CRED_ID", "c")
        .env("DFNS_SIGNING_KEY", &uri)
        .args(["service-account", "activate", "us-x", "--max-attempts", "1"]));
    assert!(!ok);
    assert!(!marker.exists(), "DFNS_SIGNING_KEY's module was loaded");
    assert!(err.contains("module-path"), "{err}");
    let (_, out, err) = run(t.cli().args(["doctor", "--key", &uri]));
    assert!(!marker.exists(), "doctor loaded the URI's module");
    assert!(format!("{out}{err}").contains("module-path"), "{out}{err}");

    // A profile's signing_key.
    let profile = dir.path().join("profile.toml");
    std::fs::write(
        &profile,
        format!(
            "[dfns]\nsigning_key = \"{uri}\"\ncred_id = \"c\"\napi_url = \"http://127.0.0.1:9\"\n"
        ),
    )
    .expect("profile");
    let (ok, _, err) = run(t
        .cli()
        .env("DFNS_AUTH_TOKEN", "x")
        .arg("--config")
        .arg(&profile)
        .args(["service-account", "activate", "us-x", "--max-attempts", "1"]));
    assert!(!ok);
    assert!(
        !marker.exists(),
        "the profile's signing_key module was loaded"
    );
    assert!(err.contains("module-path"), "{err}");

    // With no module configured, a URI cannot name one either.
    let (ok, _, err) =
        run(t
            .cli()
            .env_remove("DFNS_HSM_MODULE")
            .args(["key", "public-key", "--key", &uri]));
    assert!(!ok);
    assert!(
        !marker.exists(),
        "the URI's module was loaded with none configured"
    );
    assert!(err.contains("module-path"), "{err}");

    // The configured module named again in the URI (through a symlink) is fine.
    let link = dir.path().join("same-module.so");
    std::os::unix::fs::symlink(&t.module, &link).expect("symlink");
    let same = format!(
        "pkcs11:token={};object={k}?module-path={}",
        t.label,
        link.display()
    );
    let (ok, out, err) = run(t.cli().args(["key", "public-key", "--key", &same]));
    assert!(ok, "the configured module, named again: {err}");
    assert!(out.contains("BEGIN PUBLIC KEY"));
}

#[test]
fn a_module_others_can_write_is_not_loaded() {
    let _serial = serial();
    let t = token();
    let dir = tempfile::tempdir().expect("tmp");
    let marker = dir.path().join("loaded");
    let lib = marker_library(dir.path(), &marker);

    // Relative paths are refused.
    let (ok, _, err) = run(t
        .cli()
        .arg("--module")
        .arg("libevil.so")
        .current_dir(dir.path())
        .args(["token", "list"]));
    assert!(!ok);
    assert!(err.contains("absolute"), "{err}");

    // A group-writable file.
    std::fs::set_permissions(&lib, std::fs::Permissions::from_mode(0o775)).expect("chmod");
    let (ok, _, err) = run(t.cli().arg("--module").arg(&lib).args(["token", "list"]));
    assert!(!ok);
    assert!(!marker.exists(), "a group-writable module was loaded");
    assert!(err.contains("writable"), "{err}");

    // A safe file in a directory others can write.
    std::fs::set_permissions(&lib, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let open_dir = dir.path().join("open");
    std::fs::create_dir(&open_dir).expect("mkdir");
    let moved = open_dir.join("libevil.so");
    std::fs::rename(&lib, &moved).expect("mv");
    std::fs::set_permissions(&open_dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let (ok, _, err) = run(t.cli().arg("--module").arg(&moved).args(["token", "list"]));
    assert!(!ok);
    assert!(
        !marker.exists(),
        "a module in a world-writable directory was loaded"
    );
    assert!(err.contains("writable") && err.contains("open"), "{err}");

    // A symlink from a safe place into that directory.
    let safe_dir = dir.path().join("safe");
    std::fs::create_dir(&safe_dir).expect("mkdir");
    let link = safe_dir.join("libpkcs11.so");
    std::os::unix::fs::symlink(&moved, &link).expect("symlink");
    let (ok, _, err) = run(t.cli().arg("--module").arg(&link).args(["token", "list"]));
    assert!(!ok);
    assert!(
        !marker.exists(),
        "a symlink into a writable directory was followed"
    );
    assert!(err.contains("writable"), "{err}");

    // The real module still loads.
    let (ok, _, err) = run(t.cli().args(["token", "list"]));
    assert!(ok, "{err}");
}

// ---------------------------------------------------------------------------------------
// 4. Proxies and redirects.

/// A loopback listener that counts connections and answers each with `response`.
struct Listener {
    port: u16,
    hits: Arc<AtomicUsize>,
}

impl Listener {
    fn start(response: String) -> Listener {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let hits = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&hits);
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(mut conn) = conn else { continue };
                seen.fetch_add(1, Ordering::SeqCst);
                let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(2)));
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf);
                let _ = conn.write_all(response.as_bytes());
            }
        });
        Listener { port, hits }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn proxy() -> Listener {
    Listener::start(
        "HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into(),
    )
}

fn with_proxy(c: &mut Command, proxy: &Listener) {
    for var in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
    ] {
        c.env(var, proxy.url());
    }
}

#[test]
fn loopback_api_traffic_never_goes_through_a_proxy() {
    let _serial = serial();
    let admin = Admin::with_new_key();
    let proxy = proxy();
    let mut read = admin.cli();
    with_proxy(&mut read, &proxy);
    let (ok, out, err) = run(read.args([
        "--output",
        "json",
        "service-account",
        "list",
        "--max-attempts",
        "1",
    ]));
    assert_eq!(proxy.hits(), 0, "the proxy saw loopback API traffic");
    assert!(ok, "{err}");
    assert!(json(&out)["items"].is_array());

    // A signed call too (challenge, signature, the call).
    let mut signed = admin.cli();
    with_proxy(&mut signed, &proxy);
    let (ok, _, err) = run(signed.args([
        "service-account",
        "create",
        "--name",
        &unique_label("proxied"),
        "--key",
        &admin.label,
        "--print-token",
        "--max-attempts",
        "1",
    ]));
    assert_eq!(proxy.hits(), 0, "the proxy saw a signed loopback call");
    assert!(ok, "{err}");

    let mut doctor = admin.cli();
    with_proxy(&mut doctor, &proxy);
    let (ok, out, err) = run(doctor.args(["--output", "json", "doctor"]));
    assert_eq!(proxy.hits(), 0, "doctor sent loopback traffic to the proxy");
    assert!(ok, "{out}{err}");
    let checks = json(&out)["checks"].clone();
    let api = checks
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "api")
        .expect("an api check")
        .clone();
    assert_eq!(api["status"], "ok", "{api}");
}

#[test]
fn doctor_follows_no_redirect() {
    let _serial = serial();
    let target =
        Listener::start("HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into());
    let redirect = Listener::start(format!(
        "HTTP/1.1 302 Found\r\nlocation: {}/auth/service-accounts\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        target.url()
    ));
    let (_, out, err) = run(token()
        .cli()
        .env("DFNS_API_URL", redirect.url())
        .env("DFNS_AUTH_TOKEN", "secret-bearer")
        .args(["--output", "json", "doctor"]));
    assert!(
        redirect.hits() >= 1,
        "doctor did not reach the API: {out}{err}"
    );
    assert_eq!(target.hits(), 0, "doctor followed the redirect");
    let all = format!("{out}{err}");
    assert!(all.contains("302"), "{all}");
}

// ---------------------------------------------------------------------------------------
// 5. Unsafe keys.

/// A P-256 pair made by pkcs11-tool (outside dfns-hsm) with extra flags.
fn outside_key(test: &str, label: &str, flags: &[&str]) -> bool {
    let mut c = token().pkcs11_tool();
    c.args([
        "--keypairgen",
        "--key-type",
        "EC:prime256v1",
        "--usage-sign",
        "--label",
        label,
    ])
    .args(["--id", &hex_id()])
    .args(flags);
    let (ok, _, err) = run(&mut c);
    staged(
        test,
        &format!("pkcs11-tool --keypairgen {flags:?}"),
        ok,
        &err,
    )
}

fn hex_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

#[test]
fn unsafe_keys_are_listed_with_every_reason() {
    let _serial = serial();
    let derive = unique_label("derive");
    const TEST: &str = "unsafe_keys_are_listed_with_every_reason";
    if !outside_key(TEST, &derive, &["--sensitive", "--usage-derive"]) {
        return;
    }
    let extractable = unique_label("extractable");
    if !outside_key(TEST, &extractable, &["--extractable"]) {
        return;
    }
    let (ok, out, err) = run(token().cli().args(["key", "list"]));
    assert!(ok, "{err}");
    let line = |label: &str| {
        out.lines()
            .find(|l| l.contains(label))
            .unwrap_or_else(|| panic!("{label} not listed: {out}"))
            .to_owned()
    };
    assert!(line(&derive).contains("UNSAFE") && line(&derive).contains("CKA_DERIVE"));
    assert!(
        line(&extractable).contains("UNSAFE") && line(&extractable).contains("CKA_EXTRACTABLE")
    );
}

#[test]
fn unsafe_keys_do_not_become_credentials_without_the_override() {
    let _serial = serial();
    let admin = Admin::with_new_key();
    let dir = tempfile::tempdir().expect("tmp");
    for (what, flags) in [
        ("extractable", vec!["--extractable"]),
        ("derive", vec!["--sensitive", "--usage-derive"]),
    ] {
        let label = unique_label(what);
        if !outside_key(
            "unsafe_keys_do_not_become_credentials_without_the_override",
            &label,
            &flags,
        ) {
            return;
        }
        let before = admin.count();
        let (ok, out, err) = run(admin.cli().args([
            "service-account",
            "enroll",
            "--name",
            &label,
            "--key-label",
            &label,
            "--print-token",
        ]));
        assert!(!ok, "{what}: enroll reused an unsafe key: {out}");
        assert!(
            err.contains(&label) && err.contains("--allow-unsafe-key"),
            "{what}: {err}"
        );
        let (ok, out, err) = run(admin.cli().args([
            "service-account",
            "create",
            "--name",
            &label,
            "--key",
            &label,
            "--print-token",
        ]));
        assert!(!ok, "{what}: create registered an unsafe key: {out}");
        assert!(err.contains("--allow-unsafe-key"), "{what}: {err}");
        assert_eq!(admin.count(), before, "{what}: an account was created");

        let token_out = dir.path().join(format!("{label}.token"));
        let (ok, out, err) = run(admin
            .cli()
            .args([
                "--output",
                "json",
                "service-account",
                "enroll",
                "--allow-unsafe-key",
                "--name",
                &label,
                "--key-label",
                &label,
                "--token-out",
            ])
            .arg(&token_out));
        assert!(ok, "{what}: the override: {err}");
        assert_eq!(json(&out)["verified"], true);
    }
}

#[test]
fn an_unsafe_signing_key_signs_nothing_without_the_override() {
    let _serial = serial();
    let label = unique_label("unsafe-admin");
    if !outside_key(
        "an_unsafe_signing_key_signs_nothing_without_the_override",
        &label,
        &["--extractable"],
    ) {
        return;
    }
    let admin = Admin::start(&label);
    let before = admin.count();
    let pub_label = unique_label("for-unsafe-admin");
    let (_, pem) = generate(&pub_label);
    let dir = tempfile::tempdir().expect("tmp");
    let pem_file = dir.path().join("k.pem");
    std::fs::write(&pem_file, pem).expect("pem");
    let create = |extra: &[&str]| {
        let mut c = admin.cli();
        c.args(["service-account", "create", "--name", &unique_label("sa")])
            .arg("--public-key-file")
            .arg(&pem_file)
            .args(["--print-token", "--max-attempts", "1"])
            .args(extra);
        run(&mut c)
    };
    let (ok, out, err) = create(&[]);
    assert!(!ok, "an extractable signing key signed a call: {out}");
    assert!(
        err.contains(&label)
            && err.contains("CKA_EXTRACTABLE")
            && err.contains("--allow-unsafe-key"),
        "{err}"
    );
    assert_eq!(admin.count(), before);
    let (ok, _, err) = create(&["--allow-unsafe-key"]);
    assert!(ok, "the override: {err}");
    assert_eq!(admin.count(), before + 1);
}

#[test]
fn a_generated_key_the_token_widened_is_destroyed_and_refused() {
    if token().implementation == testkit::Implementation::Tpm2 {
        println!(
            "skipped a_generated_key_the_token_widened_is_destroyed_and_refused: tpm2 refuses an extractable template outright, so no widened key can be made to refuse"
        );
        return;
    }
    // A token that ignores the template (the fault-injecting module makes every generated
    // private key extractable): the attributes are read back after generation.
    let _serial = serial();
    let admin = Admin::with_new_key();
    let t = token();
    let faulty = |c: &mut Command| {
        c.env("DFNS_HSM_MODULE", testkit::artifact::faulty_module())
            .env("FAULTY_PKCS11_MODULE", &t.module)
            .env("FAULTY_KEYGEN_EXTRACTABLE", "1");
    };
    let label = unique_label("widened");
    let mut generate = t.cli();
    faulty(&mut generate);
    let (ok, out, err) = run(generate.args(["key", "generate", "--label", &label]));
    assert!(!ok, "a widened key was kept: {out}");
    assert!(
        err.contains(&label) && err.contains("CKA_EXTRACTABLE") && err.contains("destroyed"),
        "{err}"
    );
    let (ok, out, _) = run(t.pkcs11_tool().args(["--list-objects", "--label", &label]));
    assert!(ok);
    assert!(
        !out.contains(&label),
        "the widened pair is still on the token: {out}"
    );

    let before = admin.count();
    let label = unique_label("widened-enroll");
    let mut enroll = admin.cli();
    faulty(&mut enroll);
    let (ok, out, err) = run(enroll.args([
        "service-account",
        "enroll",
        "--allow-unsafe-key",
        "--name",
        &label,
        "--key-label",
        &label,
        "--print-token",
    ]));
    assert!(!ok, "enroll registered a widened key: {out}");
    assert!(
        err.contains("CKA_EXTRACTABLE") && err.contains("destroyed"),
        "{err}"
    );
    assert_eq!(admin.count(), before);
    let (ok, out, _) = run(t.pkcs11_tool().args(["--list-objects", "--label", &label]));
    assert!(ok);
    assert!(!out.contains(&label), "{out}");
}
