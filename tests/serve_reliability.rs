//! `dfns-hsm serve` under faults and pressure: a PKCS#11 module that drops sessions and fails
//! (the workspace's faulty module over SoftHSM2), SIGTERM with requests in flight, SIGHUP with
//! a broken configuration, and clients that hold half-sent headers.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde_json::json;
use testkit::service::{unix, Answer, Service};
use testkit::verify::{b64url_decode, verify_p256};
use testkit::{artifact, token, unique_label};

/// Generate a P-256 key on the test token; its SPKI DER.
fn key(label: &str) -> Vec<u8> {
    let v = token().generate_key(label, &[]);
    let pem = v["publicKeyPem"].as_str().expect("pem");
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("SPKI DER")
}

fn challenge(cred: &str, text: &str) -> Vec<u8> {
    json!({"challenge": text, "challengeIdentifier": format!("id-{text}"),
           "allowCredentials": {"key": [{"type": "public-key", "id": cred}]}})
    .to_string()
    .into_bytes()
}

/// `dfns-hsm serve` on the faulty module over the test token, with `faults` set.
fn faulty_serve(faults: &[(&str, &str)]) -> Command {
    let t = token();
    let mut c = t.cli();
    c.env("DFNS_HSM_MODULE", artifact::faulty_module())
        .env("FAULTY_PKCS11_MODULE", &t.module)
        .env("DFNS_HSM_LOG", "info");
    for (k, v) in faults {
        c.env(k, v);
    }
    c.arg("serve");
    c
}

fn start(mut cmd: Command, args: &[&str]) -> (Service, PathBuf) {
    let dir = Service::dir();
    let socket = dir.path().join("sign.sock");
    cmd.args(args)
        .arg("--listen")
        .arg(format!("unix:{}", socket.display()));
    (Service::start(cmd, dir, &socket), socket)
}

/// A 200 whose signature verifies (RustCrypto, not the service's ring) over the exact
/// clientData bytes it returned, for this challenge; else what was wrong.
fn verified(answer: &Answer, spki: &[u8], cred: &str, text: &str) -> Result<(), String> {
    let v = answer.json();
    let a = &v["credentialAssertion"];
    if a["credId"] != cred {
        return Err(format!("credId: {v}"));
    }
    let data = b64url_decode(a["clientData"].as_str().unwrap_or_default());
    if data != format!(r#"{{"challenge":"{text}","type":"key.get"}}"#).into_bytes() {
        return Err(format!("clientData: {v}"));
    }
    let sig = b64url_decode(a["signature"].as_str().unwrap_or_default());
    if !verify_p256(spki, &data, &sig) {
        return Err(format!("signature does not verify: {v}"));
    }
    Ok(())
}

#[test]
fn five_thousand_requests_through_a_failing_module_get_a_good_signature_or_a_clear_503() {
    let label = unique_label("serve-faulty");
    let spki = key(&label);
    let cred = format!("cred-{label}");
    let (service, socket) = start(
        faulty_serve(&[
            ("FAULTY_SIGN_EVERY", "7:SESSION_HANDLE_INVALID"),
            ("FAULTY_SIGN_EVERY_2", "11:DEVICE_ERROR"),
            ("FAULTY_SIGN_LATENCY_MS", "2"),
        ]),
        &["--identity", &format!("{cred}={label}")],
    );
    let (ok, unavailable, wrong) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(std::sync::Mutex::new(Vec::<String>::new())),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..32)
        .map(|_| {
            let (ok, unavailable, wrong, next) =
                (ok.clone(), unavailable.clone(), wrong.clone(), next.clone());
            let (socket, spki, cred) = (socket.clone(), spki.clone(), cred.clone());
            std::thread::spawn(move || loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= 5000 {
                    return;
                }
                let text = format!("Y2hhbGxlbmdl{n}");
                let result = unix(&socket, "POST", "/v1/sign", &[], &challenge(&cred, &text));
                let outcome = match result {
                    Ok(a) if a.status == 200 => verified(&a, &spki, &cred, &text).map(|()| &ok),
                    Ok(a)
                        if a.status == 503
                            && a.code() == "hsm_unavailable"
                            && a.header("retry-after").is_some() =>
                    {
                        Ok(&unavailable)
                    }
                    Ok(a) => Err(format!("{} {}", a.status, a.body)),
                    Err(e) => Err(format!("no answer: {e}")),
                };
                match outcome {
                    Ok(counter) => {
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => wrong.lock().expect("lock").push(e),
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client thread");
    }
    let wrong = wrong.lock().expect("lock");
    assert!(
        wrong.is_empty(),
        "{} bad answers, e.g. {:?}\n{}",
        wrong.len(),
        &wrong[..wrong.len().min(3)],
        service.log()
    );
    let (ok, unavailable) = (
        ok.load(Ordering::Relaxed),
        unavailable.load(Ordering::Relaxed),
    );
    println!("5000 requests: {ok} signatures verified, {unavailable} clear 503s");
    assert_eq!(ok + unavailable, 5000);
    assert!(
        ok > 4000,
        "the recovery should absorb most faults: {ok} signed"
    );
    assert_eq!(
        unix(&socket, "GET", "/healthz", &[], b"")
            .expect("alive")
            .status,
        200,
        "the service stays up"
    );
    let m = unix(&socket, "GET", "/metrics", &[], b"")
        .expect("metrics")
        .body;
    assert!(m.contains(&format!("outcome=\"ok\"}} {ok}")), "{m}");
}

#[test]
fn sigterm_finishes_the_requests_in_flight_refuses_new_ones_and_exits_0() {
    let label = unique_label("serve-term");
    let spki = key(&label);
    let cred = format!("cred-{label}");
    let (mut service, socket) = start(
        faulty_serve(&[("FAULTY_SIGN_LATENCY_MS", "400")]),
        &["--identity", &format!("{cred}={label}")],
    );
    let in_flight: Vec<_> = (0..6)
        .map(|i| {
            let (socket, cred) = (socket.clone(), cred.clone());
            std::thread::spawn(move || {
                let text = format!("dGVybQ{i}");
                (
                    unix(&socket, "POST", "/v1/sign", &[], &challenge(&cred, &text)),
                    text,
                )
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(150));
    service.signal(libc::SIGTERM);
    for t in in_flight {
        let (answer, text) = t.join().expect("thread");
        let answer = answer
            .unwrap_or_else(|e| panic!("an in-flight request was dropped: {e}\n{}", service.log()));
        assert_eq!(answer.status, 200, "{}", answer.body);
        verified(&answer, &spki, &cred, &text).expect("a good signature");
    }
    let code = service.wait_exit(Duration::from_secs(20));
    assert_eq!(code, Some(0), "{}", service.log());
    assert!(!socket.exists(), "the socket is removed");
    assert!(
        unix(&socket, "GET", "/healthz", &[], b"").is_err(),
        "new clients are refused"
    );
}

fn write_config(path: &Path, label: &str, token_file: &Path, extra: &str) {
    std::fs::write(
        path,
        format!(
            "[[identity]]\nname = \"main\"\ncred_id = \"cred-main\"\nkey = \"{label}\"\n\n[[client]]\nname = \"app\"\ntoken_file = \"{}\"\nidentities = [\"main\"]\n{extra}",
            token_file.display()
        ),
    )
    .expect("config");
}

fn secret(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    p
}

#[test]
fn sighup_reloads_a_good_config_and_keeps_serving_the_old_one_when_the_new_is_broken() {
    let label = unique_label("serve-hup");
    key(&label);
    let cfgdir = tempfile::tempdir().expect("tmp");
    let (old, new) = (
        secret(cfgdir.path(), "old.token", "the-old-client-token"),
        secret(cfgdir.path(), "new.token", "the-new-client-token"),
    );
    let config = cfgdir.path().join("serve.toml");
    write_config(&config, &label, &old, "");
    let mut cmd = token().cli();
    cmd.env("DFNS_HSM_LOG", "info")
        .arg("--config")
        .arg(&config)
        .arg("serve");
    let (service, socket) = start(cmd, &[]);
    let sign = |bearer: &str| {
        unix(
            &socket,
            "POST",
            "/v1/sign",
            &[("Authorization", &format!("Bearer {bearer}"))],
            &challenge("cred-main", "aHVw"),
        )
        .expect("request")
        .status
    };
    assert_eq!(sign("the-old-client-token"), 200);

    // Broken: an unknown key. Logged, and the old configuration keeps serving.
    write_config(&config, &label, &new, "colour = \"blue\"\n");
    service.signal(libc::SIGHUP);
    let mut logged = false;
    for _ in 0..100 {
        if service.log().contains("the old one keeps serving") {
            logged = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(logged, "{}", service.log());
    assert!(
        service.log().contains("colour"),
        "the error names the key: {}",
        service.log()
    );
    assert_eq!(sign("the-old-client-token"), 200);
    assert_eq!(sign("the-new-client-token"), 401);

    // Good: the new client token replaces the old one.
    write_config(&config, &label, &new, "");
    service.signal(libc::SIGHUP);
    let mut reloaded = false;
    for _ in 0..100 {
        if sign("the-new-client-token") == 200 {
            reloaded = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(reloaded, "{}", service.log());
    assert_eq!(sign("the-old-client-token"), 401);
}

#[test]
fn two_hundred_clients_holding_half_sent_headers_do_not_stop_a_normal_request() {
    let label = unique_label("serve-slow");
    let spki = key(&label);
    let cred = format!("cred-{label}");
    let mut cmd = token().cli();
    cmd.arg("serve");
    let (service, socket) = start(
        cmd,
        &[
            "--identity",
            &format!("{cred}={label}"),
            "--max-connections",
            "64",
            "--header-timeout-ms",
            "1000",
        ],
    );
    let mut slow = Vec::new();
    for _ in 0..200 {
        let mut s = std::os::unix::net::UnixStream::connect(&socket).expect("connect");
        let _ = s.write_all(b"POST /v1/sign HTTP/1.1\r\nHost: x\r\nContent-Le");
        slow.push(s);
    }
    let answer = unix(
        &socket,
        "POST",
        "/v1/sign",
        &[],
        &challenge(&cred, "c2xvdw"),
    )
    .expect("an answer");
    assert_eq!(answer.status, 200, "{}\n{}", answer.body, service.log());
    verified(&answer, &spki, &cred, "c2xvdw").expect("a good signature");
    drop(slow);
}
