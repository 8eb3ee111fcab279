//! The emulator as a server others may point at: slow clients cannot take it down, its state
//! dir is refused when others could plant one, two emulators cannot share one, and a request
//! cannot forge a log line.

mod support;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, Instant};

use support::run_to_exit;
use testkit::Emulator;

fn addr(emu: &Emulator) -> String {
    emu.base_url().trim_start_matches("http://").to_owned()
}

/// One plain HTTP/1.1 GET on a fresh connection: the status line, or why there was none.
fn get(addr: &str, path: &str) -> Result<String, String> {
    get_as(addr, path, None)
}

/// [`get`] with a bearer token.
fn get_as(addr: &str, path: &str, token: Option<&str>) -> Result<String, String> {
    let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
    out.lines()
        .next()
        .map(str::to_owned)
        .ok_or_else(|| "no answer".into())
}

#[test]
fn slow_clients_holding_half_sent_headers_do_not_stop_a_normal_request() {
    let emu = Emulator::start(&["--max-connections", "16", "--header-timeout-ms", "400"]);
    let addr = addr(&emu);
    // Three times the connection cap, each stuck in the middle of its headers.
    let mut slow = Vec::new();
    for _ in 0..48 {
        let mut s = TcpStream::connect(&addr).expect("connect");
        s.write_all(b"GET /auth/service-accounts HTTP/1.1\r\nHost: x\r\n")
            .expect("half a request");
        slow.push(s);
    }
    let started = Instant::now();
    let status = get(&addr, "/_emulator/stats").expect("a normal request is answered");
    assert!(status.contains(" 200 "), "{status}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answered only after {:?}",
        started.elapsed()
    );
    // The server closed the slow connections once their header time was up.
    let first = &mut slow[0];
    first
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut buf = [0u8; 256];
    let closed = match first.read(&mut buf) {
        Ok(0) => true,
        Ok(n) => String::from_utf8_lossy(&buf[..n]).contains("408"),
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    assert!(closed, "a half-open connection was kept open");
}

#[test]
fn a_state_dir_others_can_write_is_refused() {
    let base = tempfile::tempdir().expect("tmp");
    let dir = base.path().join("shared");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let (ok, err) = run_to_exit(&["--state-dir", dir.to_str().expect("utf8")]);
    assert!(!ok);
    assert!(err.contains("written by group or others"), "{err}");
    assert!(!dir.join("state.json").exists(), "nothing was written");
}

#[test]
fn a_state_dir_someone_else_owns_is_refused() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("skipped a_state_dir_someone_else_owns_is_refused: needs root to chown");
        return;
    }
    let base = tempfile::tempdir().expect("tmp");
    let dir = base.path().join("theirs");
    std::fs::create_dir(&dir).expect("mkdir");
    std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).expect("chown");
    let (ok, err) = run_to_exit(&["--state-dir", dir.to_str().expect("utf8")]);
    assert!(!ok);
    assert!(err.contains("belongs to uid 65534"), "{err}");
}

#[test]
fn two_emulators_cannot_share_a_state_dir() {
    let base = tempfile::tempdir().expect("tmp");
    let dir = base.path().join("state");
    let _first = Emulator::builder().state_dir(&dir).start();
    let (ok, err) = run_to_exit(&["--state-dir", dir.to_str().expect("utf8")]);
    assert!(!ok);
    assert!(err.contains("another dfns-emulator"), "{err}");
}

#[test]
fn an_encoded_newline_in_a_path_cannot_forge_a_log_line() {
    let base = tempfile::tempdir().expect("tmp");
    let dir = base.path().join("state");
    let emu = Emulator::builder()
        .state_dir(&dir)
        .args(&["--max-lifetime", "60"])
        .start();
    // Authenticated, so the id is decoded and reaches the handler's error message.
    let forged = "/auth/service-accounts/us-x%0AINFO%20forged%20admin%20login%1B%5B2K";
    let status = get_as(&addr(&emu), forged, Some(&emu.admin_token())).expect("answered");
    assert!(status.contains(" 404 "), "{status}");
    let _ = get(&addr(&emu), "/no/such%0Aroute%0AERROR%20forged");
    drop(emu);
    let log = std::fs::read_to_string(dir.with_extension("log")).expect("the emulator's log");
    assert!(!log.is_empty());
    for line in log.lines() {
        assert!(
            !line.trim_start().starts_with("INFO forged")
                && !line.trim_start().starts_with("ERROR forged"),
            "a forged line: {line:?}\n{log}"
        );
    }
    assert!(!log.contains('\u{1b}'), "an ESC reached the log");
    assert!(
        log.contains("us-x\\nINFO forged"),
        "the decoded id is logged escaped:\n{log}"
    );
}
