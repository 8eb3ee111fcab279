//! `dfns-hsm serve` against the real token and the real emulator: signatures verified by
//! openssl over the bytes on the wire, client authentication, the identity and route
//! policies, limits, the proxy, readiness and metrics.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use testkit::service::{tcp, unix, Answer, Service};
use testkit::verify::assert_first_factor_verifies;
use testkit::{run, token, unique_label, Emulator, KeyAlgorithm};

/// Generate a P-256 key on the test token; its public key PEM.
fn key(label: &str) -> String {
    let v = token().generate_key(label, &[]);
    v["publicKeyPem"].as_str().expect("pem").to_owned()
}

fn challenge(cred_ids: &[&str], text: &str) -> Vec<u8> {
    let key: Vec<Value> = cred_ids
        .iter()
        .map(|c| json!({"type": "public-key", "id": c}))
        .collect();
    json!({
        "challenge": text,
        "challengeIdentifier": format!("id-{text}"),
        "allowCredentials": {"key": key, "webauthn": []},
        "supportedCredentialKinds": [{"kind": "Key", "factor": "first", "requiresSecondFactor": false}],
        "userVerification": "required"
    })
    .to_string()
    .into_bytes()
}

fn serve_cmd(args: &[&str]) -> Command {
    let mut c = token().cli();
    c.env("DFNS_HSM_LOG", "info").arg("serve").args(args);
    c
}

/// Start serve with `args` plus a unix socket in a fresh private dir; (service, socket).
fn start(args: &[&str]) -> (Service, PathBuf) {
    let dir = Service::dir();
    let socket = dir.path().join("sign.sock");
    let mut cmd = serve_cmd(args);
    cmd.arg("--listen")
        .arg(format!("unix:{}", socket.display()));
    (Service::start(cmd, dir, &socket), socket)
}

/// Start serve with `toml` as its `--config` (written into `dir`) and a unix socket there.
fn start_with_config(dir: tempfile::TempDir, toml: &str) -> (Service, PathBuf) {
    let config = dir.path().join("serve.toml");
    std::fs::write(&config, toml).expect("config");
    let socket = dir.path().join("sign.sock");
    let mut cmd = serve_cmd(&["--listen", &format!("unix:{}", socket.display())]);
    cmd.arg("--config").arg(&config);
    (Service::start(cmd, dir, &socket), socket)
}

fn secret_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    p
}

fn post_sign(socket: &Path, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    unix(socket, "POST", "/v1/sign", headers, body).expect("request")
}

/// The port a TCP listener got, from the service's log.
fn tcp_port(service: &Service) -> String {
    let log = service.log();
    let line = log
        .lines()
        .find_map(|l| l.split("listening on tcp:").nth(1))
        .unwrap_or_else(|| panic!("no tcp listener in the log:\n{log}"));
    line.split_whitespace().next().expect("addr").to_owned()
}

#[test]
fn a_challenge_is_signed_as_the_sdk_expects_and_verifies_with_openssl() {
    let label = unique_label("serve-sign");
    let pem = key(&label);
    let cred = format!("cred-{label}");
    let (service, socket) = start(&["--identity", &format!("{cred}={label}")]);
    let mode = std::fs::metadata(&socket)
        .expect("socket")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "a socket is owner-only by default");

    let a = post_sign(
        &socket,
        &[],
        &challenge(&["other-cred", &cred], "Y2hhbGxlbmdl"),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let dir = tempfile::tempdir().expect("tmp");
    assert_first_factor_verifies(
        dir.path(),
        KeyAlgorithm::EcdsaP256,
        &pem,
        &a.body,
        &cred,
        "Y2hhbGxlbmdl",
    );

    // The metrics count it; readiness names its checks.
    let m = unix(&socket, "GET", "/metrics", &[], b"").expect("metrics");
    assert!(
        m.body.contains(&format!(
            "dfns_hsm_signatures_total{{identity=\"{cred}\",algorithm=\"ecdsa-p256\",outcome=\"ok\"}} 1"
        )),
        "{}",
        m.body
    );
    let r = unix(&socket, "GET", "/readyz", &[], b"").expect("readyz");
    assert_eq!(r.status, 200, "{}", r.body);
    let checks = r.json()["checks"].as_array().expect("checks").clone();
    assert!(
        checks.iter().any(
            |c| c["name"].as_str().is_some_and(|n| n.contains("logged in")) && c["ok"] == true
        ),
        "{checks:?}"
    );
    assert!(
        checks
            .iter()
            .any(|c| c["name"] == format!("identity \"{cred}\" key") && c["ok"] == true),
        "{checks:?}"
    );
    drop(service);
}

#[test]
fn bad_requests_get_400_413_and_403_with_named_causes() {
    let label = unique_label("serve-bad");
    key(&label);
    let cred = format!("cred-{label}");
    let (_service, socket) = start(&["--identity", &format!("{cred}={label}")]);

    let a = post_sign(&socket, &[], br#"{"challengeIdentifier":"x"}"#);
    assert_eq!(
        (a.status, a.code()),
        (400, "bad_request".into()),
        "{}",
        a.body
    );
    assert!(
        a.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("challenge"),
        "{}",
        a.body
    );

    let big = vec![b' '; 1024 * 1024 + 1];
    let a = post_sign(&socket, &[], &big);
    assert_eq!(
        (a.status, a.code()),
        (413, "payload_too_large".into()),
        "{}",
        a.body
    );

    let a = post_sign(&socket, &[], &challenge(&["someone-else"], "x"));
    assert_eq!(
        (a.status, a.code()),
        (403, "forbidden".into()),
        "{}",
        a.body
    );
    assert!(a.body.contains("someone-else"), "{}", a.body);

    let a = post_sign(
        &socket,
        &[("X-Dfns-Hsm-Identity", "nobody")],
        &challenge(&[&cred], "x"),
    );
    assert_eq!(a.status, 403, "{}", a.body);

    let a = unix(&socket, "GET", "/v1/nothing", &[], b"").expect("request");
    assert_eq!(
        (a.status, a.code()),
        (404, "not_found".into()),
        "{}",
        a.body
    );
}

#[test]
fn tcp_needs_a_client_token_and_a_client_signs_only_with_its_identities() {
    let (a_label, b_label) = (unique_label("serve-a"), unique_label("serve-b"));
    let pem_a = key(&a_label);
    key(&b_label);
    let dir = Service::dir();
    let token_a = secret_file(dir.path(), "a.token", "client-a-secret-token");
    let (service, socket) = start_with_config(
        dir,
        &format!(
            r#"
[[listen]]
address = "tcp:127.0.0.1:0"

[[identity]]
name = "alpha"
cred_id = "cred-alpha"
key = "{a_label}"

[[identity]]
name = "beta"
cred_id = "cred-beta"
key = "{b_label}"

[[client]]
name = "app-a"
token_file = "{}"
identities = ["alpha"]
"#,
            token_a.display()
        ),
    );
    let addr = tcp_port(&service);

    let body = challenge(&["cred-alpha"], "dGNw");
    let a = tcp(&addr, "POST", "/v1/sign", &[], &body).expect("request");
    assert_eq!(
        (a.status, a.code()),
        (401, "unauthorized".into()),
        "{}",
        a.body
    );
    let a = tcp(
        &addr,
        "POST",
        "/v1/sign",
        &[("Authorization", "Bearer wrong-token")],
        &body,
    )
    .expect("request");
    assert_eq!(a.status, 401, "{}", a.body);
    let good = [("Authorization", "Bearer client-a-secret-token")];
    let a = tcp(&addr, "POST", "/v1/sign", &good, &body).expect("request");
    assert_eq!(a.status, 200, "{}", a.body);
    let tmp = tempfile::tempdir().expect("tmp");
    assert_first_factor_verifies(
        tmp.path(),
        KeyAlgorithm::EcdsaP256,
        &pem_a,
        &a.body,
        "cred-alpha",
        "dGNw",
    );

    // app-a may not use beta, whatever the challenge allows.
    let a = tcp(
        &addr,
        "POST",
        "/v1/sign",
        &good,
        &challenge(&["cred-beta"], "x"),
    )
    .expect("request");
    assert_eq!(
        (a.status, a.code()),
        (403, "forbidden".into()),
        "{}",
        a.body
    );
    let a = tcp(
        &addr,
        "POST",
        "/v1/sign",
        &[good[0], ("X-Dfns-Hsm-Identity", "beta")],
        &challenge(&["cred-beta"], "x"),
    )
    .expect("request");
    assert_eq!(a.status, 403, "{}", a.body);
    // The tokenless unix client (none configured: every identity, no route) may use beta.
    let a = post_sign(&socket, &[], &challenge(&["cred-beta"], "x"));
    assert_eq!(a.status, 200, "{}", a.body);
    let m = unix(&socket, "GET", "/metrics", &[], b"")
        .expect("metrics")
        .body;
    assert!(
        m.contains("dfns_hsm_policy_denials_total{reason=\"identity\"} 2"),
        "{m}"
    );
}

#[test]
fn unsafe_listeners_and_sockets_are_refused_before_anything_listens() {
    let label = unique_label("serve-refuse");
    key(&label);
    let identity = format!("c={label}");
    let dir = Service::dir();
    let tokfile = secret_file(dir.path(), "c.token", "some-client-token");

    // Reachable from other machines without TLS.
    let (ok, _, err) = run(
        serve_cmd(&["--identity", &identity, "--listen", "tcp:0.0.0.0:0"])
            .arg("--client-token-file")
            .arg(&tokfile),
    );
    assert!(!ok);
    assert!(err.contains("tls_cert") && err.contains("0.0.0.0"), "{err}");
    // TCP with no client that has a token.
    let (ok, _, err) = run(&mut serve_cmd(&[
        "--identity",
        &identity,
        "--listen",
        "tcp:127.0.0.1:0",
    ]));
    assert!(!ok);
    assert!(err.contains("client-token-file"), "{err}");
    // A socket directory others can write.
    let open = dir.path().join("open");
    std::fs::create_dir(&open).expect("mkdir");
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let (ok, _, err) = run(&mut serve_cmd(&[
        "--identity",
        &identity,
        "--listen",
        &format!("unix:{}/s.sock", open.display()),
    ]));
    assert!(!ok);
    assert!(err.contains("no one else can write"), "{err}");
    // A world-accessible socket mode.
    let (ok, _, err) = run(&mut serve_cmd(&[
        "--identity",
        &identity,
        "--socket-mode",
        "0666",
        "--listen",
        &format!("unix:{}/s.sock", dir.path().display()),
    ]));
    assert!(!ok);
    assert!(err.contains("0666"), "{err}");
    // A file that is not a socket is left alone.
    let plain = dir.path().join("plain.sock");
    std::fs::write(&plain, "keep me").expect("write");
    let (ok, _, err) = run(&mut serve_cmd(&[
        "--identity",
        &identity,
        "--listen",
        &format!("unix:{}", plain.display()),
    ]));
    assert!(!ok);
    assert!(err.contains("not a socket"), "{err}");
    assert_eq!(std::fs::read_to_string(&plain).expect("kept"), "keep me");
    for bad in [["--identity", "no-equals-sign"], ["--identity", "=label"]] {
        let (ok, _, err) = run(&mut serve_cmd(&[
            bad[0],
            bad[1],
            "--listen",
            "unix:/tmp/x.sock",
        ]));
        assert!(!ok);
        assert!(err.contains("CRED_ID=KEY"), "{err}");
    }
}

#[test]
fn a_live_socket_is_not_taken_over_and_a_stale_one_is_replaced() {
    let label = unique_label("serve-stale");
    key(&label);
    let identity = format!("c={label}");
    let (first, socket) = start(&["--identity", &identity]);
    let (ok, _, err) = run(&mut serve_cmd(&[
        "--identity",
        &identity,
        "--listen",
        &format!("unix:{}", socket.display()),
    ]));
    assert!(!ok);
    assert!(err.contains("another process answers"), "{err}");
    assert_eq!(
        unix(&socket, "GET", "/healthz", &[], b"")
            .expect("still served")
            .status,
        200
    );

    // A socket nobody answers on (left by a killed process) is replaced.
    let dir = Service::dir();
    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).expect("bind"));
    assert!(stale.exists());
    let mut cmd = serve_cmd(&["--identity", &identity, "--socket-mode", "0660"]);
    cmd.arg("--listen").arg(format!("unix:{}", stale.display()));
    let second = Service::start(cmd, dir, &stale);
    let mode = std::fs::metadata(&stale)
        .expect("socket")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o660, "the mode asked for");
    drop((first, second));
}

/// The emulator with its admin key on the HSM token; (emulator, key label, admin pem).
fn emulator_with_hsm_admin(dir: &Path) -> (Emulator, String, String) {
    let label = unique_label("serve-admin");
    let pem = key(&label);
    let pub_file = dir.join("admin.pub.pem");
    std::fs::write(&pub_file, &pem).expect("write");
    let emu = Emulator::start(&["--admin-public-key", pub_file.to_str().expect("utf-8")]);
    (emu, label, pem)
}

#[test]
fn the_proxy_signs_only_what_the_allow_list_names_and_audits_client_and_body() {
    let dir = Service::dir();
    let (emu, label, _) = emulator_with_hsm_admin(dir.path());
    let admin_token = secret_file(dir.path(), "admin.token", &emu.admin_token());
    let audit = dir.path().join("audit.jsonl");
    let (service, socket) = start_with_config(
        dir,
        &format!(
            r#"
[dfns]
api_url = "{}"
audit_log = "{}"

[[identity]]
name = "admin"
cred_id = "{}"
key = "{label}"
auth_token_file = "{}"

[[client]]
name = "ops-app"
identities = ["admin"]
allow = ["GET /auth/service-accounts", "POST /auth/service-accounts", "PUT /auth/service-accounts/*/deactivate", "POST /auth/action/init"]
"#,
            emu.base_url(),
            audit.display(),
            emu.admin_cred_id(),
            admin_token.display()
        ),
    );
    let lines = || {
        std::fs::read_to_string(&audit)
            .unwrap_or_default()
            .lines()
            .count()
    };

    // Refused before anything is signed: outside the list, dot segments, method override.
    for (method, path, headers) in [
        ("DELETE", "/v1/dfns/auth/service-accounts/us-1", vec![]),
        (
            "PUT",
            "/v1/dfns/auth/service-accounts/us-1/activate",
            vec![],
        ),
        (
            "GET",
            "/v1/dfns/auth/service-accounts/../permissions",
            vec![],
        ),
        (
            "GET",
            "/v1/dfns/auth/service-accounts/%2e%2e/permissions",
            vec![],
        ),
        (
            "POST",
            "/v1/dfns/auth/service-accounts",
            vec![("X-HTTP-Method-Override", "DELETE")],
        ),
        // Allowed by the list, but the user-action flow is the service's own.
        ("POST", "/v1/dfns/auth/action/init", vec![]),
    ] {
        let a = unix(&socket, method, path, &headers, b"{}").expect("request");
        assert_eq!(
            (a.status, a.code()),
            (403, "forbidden".into()),
            "{method} {path}: {}",
            a.body
        );
    }
    assert_eq!(lines(), 0, "nothing was signed for a refused request");

    // Allowed: a signed create, made by the service with the admin's token and HSM key.
    let (public, _) = outside_key(service.dir.path());
    let body =
        json!({"name": unique_label("proxied"), "publicKey": public, "daysValid": 30}).to_string();
    let a = unix(
        &socket,
        "POST",
        "/v1/dfns/auth/service-accounts",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .expect("create");
    assert_eq!(a.status, 200, "{}", a.body);
    let created = a.json();
    let id = created["userInfo"]["userId"]
        .as_str()
        .expect("userId")
        .to_owned();
    assert!(
        created["accessTokens"][0]["accessToken"].is_string(),
        "{created}"
    );
    let audit_text = std::fs::read_to_string(&audit).expect("audit");
    let line: Value =
        serde_json::from_str(audit_text.lines().last().expect("a line")).expect("json");
    assert_eq!(line["client"], "ops-app", "{line}");
    assert_eq!(line["method"], "POST", "{line}");
    assert_eq!(line["path"], "/auth/service-accounts", "{line}");
    let digest = sha256_hex(body.as_bytes());
    assert_eq!(line["bodySha256"], digest, "{line}");

    // A read, and a `*` route; Dfns's own errors come back as they are.
    let a = unix(&socket, "GET", "/v1/dfns/auth/service-accounts", &[], b"").expect("list");
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains(&id), "{}", a.body);
    let a = unix(
        &socket,
        "PUT",
        &format!("/v1/dfns/auth/service-accounts/{id}/deactivate"),
        &[],
        b"",
    )
    .expect("deactivate");
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["userInfo"]["isActive"], false, "{}", a.body);
    let a = unix(
        &socket,
        "PUT",
        "/v1/dfns/auth/service-accounts/us-missing/deactivate",
        &[],
        b"",
    )
    .expect("missing");
    assert_eq!(a.status, 404, "Dfns's status is passed on: {}", a.body);
    assert!(
        a.json()["error"].is_object(),
        "Dfns's body is passed on: {}",
        a.body
    );

    let r = unix(&socket, "GET", "/readyz", &[], b"")
        .expect("readyz")
        .json();
    let names: Vec<&str> = r["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert!(
        names.contains(&"identity \"admin\" Dfns token") && names.contains(&"Dfns API reachable"),
        "{r}"
    );
    assert_eq!(r["ready"], true, "{r}");
    let m = unix(&socket, "GET", "/metrics", &[], b"")
        .expect("metrics")
        .body;
    assert!(
        m.contains("dfns_hsm_policy_denials_total{reason=\"route\"} 3"),
        "{m}"
    );
    assert!(
        m.contains("dfns_hsm_policy_denials_total{reason=\"path\"} 2"),
        "{m}"
    );
    assert!(
        m.contains("dfns_hsm_proxy_requests_total{status=\"403\"} 6"),
        "{m}"
    );
    assert!(
        m.contains("dfns_hsm_auth_token_expiry_seconds{identity=\"admin\"}"),
        "{m}"
    );
    // The create and both deactivations (Dfns refused one after the signature) were signed
    // inside the proxy's user-action flow.
    assert!(
        m.contains("dfns_hsm_signatures_total{identity=\"admin\",algorithm=\"ecdsa-p256\",outcome=\"ok\"} 3"),
        "{m}"
    );
    drop(emu);
}

fn sha256_hex(bytes: &[u8]) -> String {
    let out = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write as _;
            c.stdin.take().expect("stdin").write_all(bytes)?;
            c.wait_with_output()
        })
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("digest")
        .to_owned()
}

/// A P-256 public key made by openssl (for a service account that is not on the HSM).
fn outside_key(dir: &Path) -> (String, PathBuf) {
    let key = dir.join("outside.key.pem");
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
    assert!(ok, "{err}");
    let (ok, out, err) = run(Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&key));
    assert!(ok, "{err}");
    (out, key)
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, made by openssl in `dir`.
fn tls_files(dir: &Path) {
    let script = r#"set -e
ec="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
openssl req -x509 $ec -keyout ca.key -out ca.pem -days 2 -subj /CN=serve-test-ca \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
for who in server client; do
  openssl req $ec -keyout $who.key -out $who.csr -subj /CN=$who 2>/dev/null
done
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext
printf 'extendedKeyUsage=clientAuth\n' >client.ext
for who in server client; do
  openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile $who.ext -out $who.pem 2>/dev/null
done
chmod 600 server.key client.key"#;
    let (ok, _, err) = run(Command::new("sh").arg("-c").arg(script).current_dir(dir));
    assert!(ok, "openssl: {err}");
}

#[test]
fn tls_with_client_certificates_on_tcp() {
    let label = unique_label("serve-tls");
    let pem = key(&label);
    let cred = format!("cred-{label}");
    let dir = Service::dir();
    let d = dir.path().to_path_buf();
    tls_files(&d);
    let token_file = secret_file(&d, "client.token", "tls-client-token");
    let (service, _socket) = start_with_config(
        dir,
        &format!(
            "[[listen]]\naddress = \"tcp:127.0.0.1:0\"\ntls_cert = \"{0}/server.pem\"\ntls_key = \"{0}/server.key\"\ntls_client_ca = \"{0}/ca.pem\"\n\n[[identity]]\nname = \"main\"\ncred_id = \"{cred}\"\nkey = \"{label}\"\n\n[[client]]\nname = \"tls-app\"\ntoken_file = \"{1}\"\nidentities = [\"main\"]\n",
            d.display(),
            token_file.display()
        ),
    );
    let addr = tcp_port(&service);
    let body = String::from_utf8(challenge(&[&cred], "dGxz")).expect("utf-8");
    let curl = |extra: &[&str]| {
        let mut c = Command::new("curl");
        c.args(["-sS", "--max-time", "20", "--cacert"])
            .arg(d.join("ca.pem"))
            .args(extra)
            .args([
                "-H",
                "Authorization: Bearer tls-client-token",
                "--data",
                &body,
            ])
            .arg(format!("https://{addr}/v1/sign"));
        run(&mut c)
    };
    let (ok, out, err) = curl(&[
        "--cert",
        d.join("client.pem").to_str().expect("utf-8"),
        "--key",
        d.join("client.key").to_str().expect("utf-8"),
    ]);
    assert!(ok, "{err}");
    let tmp = tempfile::tempdir().expect("tmp");
    assert_first_factor_verifies(
        tmp.path(),
        KeyAlgorithm::EcdsaP256,
        &pem,
        &out,
        &cred,
        "dGxz",
    );
    // No client certificate: 401 on /v1/*, nothing signed; a health probe still gets in.
    let (ok, out, err) = curl(&["-w", " %{http_code}"]);
    assert!(ok, "{err}");
    assert!(
        out.ends_with(" 401") && out.contains("client certificate"),
        "{out}"
    );
    let (ok, out, err) = run(Command::new("curl")
        .args(["-sS", "--max-time", "20", "--cacert"])
        .arg(d.join("ca.pem"))
        .arg(format!("https://{addr}/healthz")));
    assert!(ok && out.contains("ok"), "{out} {err}");
    // A certificate from another CA is refused at the handshake.
    let other = d.join("other");
    std::fs::create_dir(&other).expect("mkdir");
    tls_files(&other);
    let (ok, out, _) = curl(&[
        "--cert",
        other.join("client.pem").to_str().expect("utf-8"),
        "--key",
        other.join("client.key").to_str().expect("utf-8"),
    ]);
    assert!(!ok && !out.contains("credentialAssertion"), "{out}");
    // Plain HTTP to the TLS port gets no answer.
    assert!(tcp(&addr, "POST", "/v1/sign", &[], body.as_bytes()).is_err());
}
