//! Command-line behaviour: loopback guard, ready file, admin key options, lifetime.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use support::{run_to_exit, Emu, Identity, TestKey};

#[test]
fn non_loopback_listen_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let (ok, stderr) = run_to_exit(&[
        "--listen",
        "0.0.0.0:0",
        "--state-dir",
        dir.to_str().unwrap(),
        "--max-lifetime",
        "5",
    ]);
    assert!(!ok);
    assert!(stderr.contains("--allow-non-loopback"), "{stderr}");
    assert!(!dir.join("ready").exists());
}

#[test]
fn unknown_approval_operation_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (ok, stderr) = run_to_exit(&[
        "--state-dir",
        tmp.path().to_str().unwrap(),
        "--approval-required",
        "Wallets:Sign",
    ]);
    assert!(!ok);
    assert!(stderr.contains("ServiceAccounts:Deactivate"), "{stderr}");
}

#[test]
fn state_dir_layout_and_modes() {
    let emu = Emu::start(&[]);
    assert!(emu.url.starts_with("http://127.0.0.1:"), "{}", emu.url);
    assert!(!emu.url.ends_with(":0"));
    for f in [
        "admin.token",
        "admin.cred-id",
        "admin.key.pem",
        "state.json",
        "ready",
    ] {
        assert!(emu.dir.join(f).is_file(), "{f} missing");
    }
    #[cfg(unix)]
    for f in [
        "admin.token",
        "admin.cred-id",
        "admin.key.pem",
        "state.json",
    ] {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(emu.dir.join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    let key = std::fs::read_to_string(emu.dir.join("admin.key.pem")).unwrap();
    assert!(
        key.starts_with("-----BEGIN PRIVATE KEY-----"),
        "PKCS#8 expected"
    );
}

#[tokio::test]
async fn admin_public_key_option_uses_the_given_key() {
    let tmp = tempfile::tempdir().unwrap();
    let key = TestKey::ed25519();
    let pem_path = tmp.path().join("admin.pub.pem");
    std::fs::write(&pem_path, key.public_pem()).unwrap();
    let emu = Emu::start(&["--admin-public-key", pem_path.to_str().unwrap()]);
    assert!(!emu.dir.join("admin.key.pem").exists());
    let admin = Identity {
        token: std::fs::read_to_string(emu.dir.join("admin.token")).unwrap(),
        cred_id: std::fs::read_to_string(emu.dir.join("admin.cred-id")).unwrap(),
        key,
    };
    let (created, _) = emu
        .create_sa(&admin, "by-ed25519-admin", TestKey::p256())
        .await;
    assert_eq!(created["userInfo"]["name"], "by-ed25519-admin");
    // A different key cannot sign for this admin.
    let impostor = Identity {
        token: admin.token.clone(),
        cred_id: admin.cred_id.clone(),
        key: TestKey::ed25519(),
    };
    let ch = emu
        .init(&impostor, "POST", "/auth/service-accounts", "{}")
        .await;
    let cd = support::sorted_client_data(ch["challenge"].as_str().unwrap());
    let sig = impostor.key.sign(&cd);
    let (s, _) = emu.answer(&impostor, &ch, &cd, &sig).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = emu
        .send(
            Method::GET,
            "/auth/service-accounts",
            Some(&admin.token),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
}

#[test]
fn max_lifetime_stops_the_server_and_removes_ready() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dfns-emulator"))
        .args(["--state-dir", dir.to_str().unwrap(), "--max-lifetime", "1"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running after --max-lifetime 1"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    assert!(dir.join("state.json").is_file());
    assert!(
        !dir.join("ready").exists(),
        "ready must be removed on shutdown"
    );
}
