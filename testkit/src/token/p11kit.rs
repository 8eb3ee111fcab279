//! SoftHSM2 behind p11-kit's RPC: `p11-kit server` serves the SoftHSM2 token on a unix
//! socket in the token's temp dir and the tests load `p11-kit-client.so`.
//!
//! The server is started here, under a watchdog shell that stops it once this process has
//! exited (the per-process token is a static and is never dropped; a parent-death signal
//! would fire when the *thread* that started it ends, which in `cargo test` is one test).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::implementation::Provisioned;
use super::softhsm2;

/// Where Debian and Ubuntu put p11-kit's client module (package p11-kit-modules).
pub const CLIENT_CANDIDATES: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so",
    "/usr/lib/aarch64-linux-gnu/pkcs11/p11-kit-client.so",
    "/usr/lib64/pkcs11/p11-kit-client.so",
];

fn client_path() -> PathBuf {
    CLIENT_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "p11-kit-client.so is not installed (none of {CLIENT_CANDIDATES:?}): run \
                 scripts/setup-p11kit.sh once (it installs p11-kit and p11-kit-modules)"
            )
        })
}

/// SoftHSM2's token, then the server in front of it.
pub(crate) fn provision(dir: &Path, label: &str, so_pin: &str, pin: &str) -> Provisioned {
    let client = client_path();
    let soft = softhsm2::provision(dir, label, so_pin, pin);
    let socket = dir.join("p11-kit.sock");
    let log = dir.join("p11-kit-server.log");
    // The watchdog: the server in the background, polled with this process's pid; both in a
    // subshell the outer shell leaves running when it exits at once (so it is waited for).
    let started = Command::new("sh")
        .arg("-c")
        .arg(
            r#"(
p11-kit server -f -n "$1" --provider "$2" "$3" </dev/null >>"$4" 2>&1 & s=$!
while kill -0 "$5" 2>/dev/null && kill -0 "$s" 2>/dev/null; do sleep 1; done
kill "$s" 2>/dev/null; wait "$s"
) </dev/null >/dev/null 2>&1 &"#,
        )
        .arg("p11kit-watchdog")
        .arg(&socket)
        .arg(&soft.module)
        .arg(format!("pkcs11:token={label}"))
        .arg(&log)
        .arg(std::process::id().to_string())
        .envs(soft.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("start p11-kit server (is p11-kit installed? run scripts/setup-p11kit.sh)");
    assert!(
        started.success(),
        "the shell starting p11-kit server failed"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(
            Instant::now() < deadline,
            "p11-kit server did not create {} within 10 s: {}",
            socket.display(),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut env = soft.env;
    env.push((
        OsString::from("P11_KIT_SERVER_ADDRESS"),
        OsString::from(format!("unix:path={}", socket.display())),
    ));
    Provisioned {
        module: client,
        env,
    }
}
