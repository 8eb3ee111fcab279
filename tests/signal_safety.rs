//! SIGINT and SIGTERM during `service-account enroll` and `create` never lose a one-time token
//! silently: against the real emulator and the real SoftHSM2 token, the CLI is stopped at
//! random moments (the trial) and at chosen ones (a loopback proxy holds a chosen request so
//! the signal lands while it is in flight).
//!
//! The admin signs with the emulator's software key (`file:admin.key.pem`), so only the
//! enrolled keys use the token.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rand::{Rng as _, SeedableRng as _};
use serde_json::Value;
use testkit::{run, serial, token, unique_label, Emulator};

/// How long one CLI run may take before the test kills it and fails.
const RUN_TIMEOUT: Duration = Duration::from_secs(30);

/// An emulator and a permission that lets an enrolled account read service accounts (so its
/// token can be tried with an unsigned read).
struct Org {
    emu: Emulator,
    permission_id: String,
}

impl Org {
    fn start() -> Org {
        Org::start_with(&[])
    }

    /// With extra emulator arguments (fault injection).
    fn start_with(args: &[&str]) -> Org {
        let emu = Emulator::start(args);
        let mut org = Org {
            emu,
            permission_id: String::new(),
        };
        let (ok, out, err) = run(org.admin(None).args([
            "--output",
            "json",
            "permission",
            "create",
            "--name",
            &unique_label("sig-read"),
            "--operation",
            "Auth:ServiceAccounts:Read",
        ]));
        assert!(ok, "permission create: {err}");
        org.permission_id = json(&out)["id"].as_str().expect("permission id").to_owned();
        org
    }

    /// The CLI as the admin (software key), talking to `api_url` (default: the emulator).
    fn admin(&self, api_url: Option<&str>) -> Command {
        let mut c = token().cli();
        c.env("DFNS_API_URL", api_url.unwrap_or(self.emu.base_url()))
            .env("DFNS_AUTH_TOKEN_FILE", self.emu.admin_token_path())
            .env("DFNS_CRED_ID", self.emu.admin_cred_id())
            .env(
                "DFNS_SIGNING_KEY",
                format!("file:{}", self.emu.admin_key_path().display()),
            );
        c
    }

    /// `enroll --name NAME --key-label NAME --permission-id P --token-out FILE`, JSON output.
    fn enroll(&self, name: &str, token_out: &Path, api_url: Option<&str>) -> Command {
        let mut c = self.admin(api_url);
        c.args([
            "--output",
            "json",
            "service-account",
            "enroll",
            "--name",
            name,
            "--key-label",
            name,
            "--permission-id",
            &self.permission_id,
            "--token-out",
        ])
        .arg(token_out);
        c
    }

    /// The id of the account named `name`, asked as the admin.
    fn account_named(&self, name: &str) -> Option<String> {
        let (ok, out, err) =
            run(self
                .admin(None)
                .args(["--output", "json", "service-account", "list"]));
        assert!(ok, "list as the admin: {err}");
        json(&out)["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|a| a["userInfo"]["name"] == name)
            .map(|a| a["userInfo"]["userId"].as_str().expect("userId").to_owned())
    }

    /// Whether the token in `path` exists and the emulator accepts it: an unsigned read of
    /// the account, as the account.
    fn token_works(&self, path: &Path, account_id: &str) -> bool {
        if !path.exists() {
            return false;
        }
        let (ok, out, _) = run(token()
            .cli()
            .env("DFNS_API_URL", self.emu.base_url())
            .env("DFNS_AUTH_TOKEN_FILE", path)
            .args(["--output", "json", "service-account", "get", account_id]));
        ok && json(&out)["userInfo"]["userId"] == account_id
    }
}

fn key_exists(label: &str) -> bool {
    run(token().cli().args(["key", "public-key", "--key", label])).0
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// A finished child: how it ended and what it printed.
struct Ended {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Ended {
    fn code(&self) -> Option<i32> {
        self.status.code()
    }

    fn how(&self) -> String {
        match (self.status.code(), self.status.signal()) {
            (Some(c), _) => format!("exit {c}"),
            (None, Some(s)) => format!("killed by signal {s}"),
            _ => "unknown".into(),
        }
    }

    fn mentions(&self, s: &str) -> bool {
        self.stdout.contains(s) || self.stderr.contains(s)
    }
}

fn spawn(cmd: &mut Command) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn dfns-hsm")
}

fn signal(child: &Child, sig: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).expect("pid");
    // SAFETY: kill(2) on our own child's pid; no memory is involved.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig})");
}

/// Wait for `child` at most [`RUN_TIMEOUT`]; past it, SIGKILL it and fail.
fn wait(mut child: Child) -> Ended {
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > RUN_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("dfns-hsm did not end within {RUN_TIMEOUT:?} after a signal");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut s) = child.stdout.take() {
        s.read_to_string(&mut stdout).expect("stdout");
    }
    if let Some(mut s) = child.stderr.take() {
        s.read_to_string(&mut stderr).expect("stderr");
    }
    Ended {
        status,
        stdout,
        stderr,
    }
}

fn signal_name(sig: libc::c_int) -> &'static str {
    match sig {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        _ => "?",
    }
}

/// How a trial run ended, by what exists afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Case {
    /// No account with that name exists.
    NothingCreated,
    /// The account exists and its token file exists and works.
    TokenWorks,
    /// The account exists without a working token, and the command exited 4 naming it.
    Reported,
}

#[test]
fn enroll_stopped_at_random_moments_never_loses_a_token_silently() {
    let _serial = serial();
    let runs: usize = std::env::var("DFNS_TEST_SIGNAL_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let seed: u64 = std::env::var("DFNS_TEST_SIGNAL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    println!("signal trial: {runs} runs, seed {seed} (rerun with DFNS_TEST_SIGNAL_SEED={seed})");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let org = Org::start();
    let dir = tempfile::tempdir().expect("tmp");
    let started = Instant::now();
    let mut counts = std::collections::BTreeMap::<(Case, String), usize>::new();
    let mut failures = Vec::new();
    for i in 0..runs {
        let sig = if rng.gen_bool(0.5) {
            libc::SIGINT
        } else {
            libc::SIGTERM
        };
        let delay = Duration::from_millis(rng.gen_range(0..=300));
        let name = unique_label(&format!("sig{i}"));
        let token_out = dir.path().join(format!("{name}.token"));
        let child = spawn(&mut org.enroll(&name, &token_out, None));
        std::thread::sleep(delay);
        // An exited child stays a zombie until `wait` reaps it, so kill(2) cannot reach
        // another process.
        let signalled = !wait_done(&child);
        signal(&child, sig);
        let ended = wait(child);
        let run_desc = format!(
            "run {i} ({name}, {} after {} ms{}): {}",
            signal_name(sig),
            delay.as_millis(),
            if signalled { "" } else { ", ended before it" },
            ended.how()
        );
        let verdict = judge(&org, &name, &token_out, sig, &ended);
        match verdict {
            Ok(case) => {
                let n = counts.entry((case, ended.how())).or_default();
                if *n == 0 {
                    // The first of each kind, to show what the user saw.
                    println!("  e.g. {run_desc}: {}", first_line(&ended.stderr));
                }
                *n += 1;
            }
            Err(why) => failures.push(format!(
                "{run_desc}: {why}\n  stdout: {}\n  stderr: {}",
                ended.stdout.trim(),
                ended.stderr.trim()
            )),
        }
    }
    println!(
        "signal trial: {runs} runs in {:.1} s, seed {seed}",
        started.elapsed().as_secs_f32()
    );
    for ((case, how), n) in &counts {
        println!("  {case:?} ({how}): {n}");
    }
    println!("  FAILED: {}", failures.len());
    assert!(
        failures.is_empty(),
        "{} of {runs} runs lost a token or misreported (seed {seed}):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn first_line(s: &str) -> &str {
    s.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("(nothing on stderr)")
}

/// Whether the child has already exited (without reaping it).
fn wait_done(child: &Child) -> bool {
    let pid = libc::pid_t::try_from(child.id()).expect("pid");
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: waitid on our own child with WNOWAIT leaves it to be reaped by `wait`.
    let rc = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    // SAFETY: si_pid is set by waitid when a child changed state, zero otherwise.
    rc == 0 && unsafe { info.si_pid() } != 0
}

/// Exactly one of: nothing was created; the token file exists and works; or the command
/// exited 4 naming the account. Anything else is a failure, described.
fn judge(
    org: &Org,
    name: &str,
    token_out: &Path,
    sig: libc::c_int,
    ended: &Ended,
) -> Result<Case, String> {
    let interrupted_code = 128 + sig;
    let Some(id) = org.account_named(name) else {
        if ended.code() == Some(0) {
            return Err("exit 0 but no account exists".into());
        }
        if token_out.exists() {
            return Err("a token file exists but no account".into());
        }
        if ended.status.signal() == Some(sig) {
            // Killed before it could catch the signal (or it never does).
            return Ok(Case::NothingCreated);
        }
        if ended.code() != Some(interrupted_code) {
            return Err(format!(
                "no account, and the run failed for another reason: {}",
                first_line(&ended.stderr)
            ));
        }
        if !ended.stderr.contains("nothing was created") {
            return Err(format!(
                "exit {interrupted_code} without saying nothing was created"
            ));
        }
        // A key generated by this run is reported as kept.
        if key_exists(name) && !(ended.stderr.contains(name) && ended.stderr.contains("kept")) {
            return Err("the key this run generated is on the token, unreported".into());
        }
        return Ok(Case::NothingCreated);
    };
    if ended.code() == Some(interrupted_code) {
        return Err(format!(
            "exit {interrupted_code} (stopped before the create) but account {id} exists"
        ));
    }
    if org.token_works(token_out, &id) {
        match ended.code() {
            Some(0) => {
                let out = json(&ended.stdout);
                if out["serviceAccountId"] != id.as_str() || out["verified"] != true {
                    return Err(format!(
                        "exit 0 but the output is not the enrollment: {out}"
                    ));
                }
            }
            Some(4) if !ended.mentions(&id) => {
                return Err(format!("exit 4 without naming {id}"));
            }
            _ => {}
        }
        return Ok(Case::TokenWorks);
    }
    if ended.code() == Some(4) && ended.mentions(&id) {
        return Ok(Case::Reported);
    }
    Err(format!(
        "account {id} exists, its token file {} is {}, and the command did not exit 4 naming it",
        token_out.display(),
        if token_out.exists() {
            "refused"
        } else {
            "missing"
        }
    ))
}

/// A loopback proxy to the emulator that holds every request whose bytes contain `hold`
/// for `delay` before passing it on, and says on `held` when one arrives.
struct Proxy {
    url: String,
    held: mpsc::Receiver<()>,
}

impl Proxy {
    fn start(upstream: &str, hold: &'static str, delay: Duration) -> Proxy {
        let upstream = upstream
            .strip_prefix("http://")
            .expect("http upstream")
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, held) = mpsc::channel();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let upstream = upstream.clone();
                let tx = tx.clone();
                std::thread::spawn(move || relay(client, &upstream, hold, delay, tx));
            }
        });
        Proxy { url, held }
    }

    /// Wait until a held request arrived.
    fn wait_held(&self) {
        self.held
            .recv_timeout(RUN_TIMEOUT)
            .expect("the request to hold never came");
    }
}

fn relay(
    mut client: TcpStream,
    upstream: &str,
    hold: &str,
    delay: Duration,
    held: mpsc::Sender<()>,
) {
    let Ok(mut server) = TcpStream::connect(upstream) else {
        return;
    };
    let (Ok(mut client_w), Ok(mut server_r)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut server_r, &mut client_w);
        let _ = client_w.shutdown(std::net::Shutdown::Write);
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if String::from_utf8_lossy(&buf[..n]).contains(hold) {
            let _ = held.send(());
            std::thread::sleep(delay);
        }
        if server.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = server.shutdown(std::net::Shutdown::Write);
}

#[test]
fn signals_while_the_create_is_in_flight_are_deferred_until_its_token_is_saved() {
    let _serial = serial();
    let org = Org::start();
    let proxy = Proxy::start(
        org.emu.base_url(),
        "POST /auth/service-accounts ",
        Duration::from_millis(700),
    );
    let dir = tempfile::tempdir().expect("tmp");
    let name = unique_label("sig-deferred");
    let token_out = dir.path().join("deferred.token");
    let child = spawn(&mut org.enroll(&name, &token_out, Some(&proxy.url)));
    proxy.wait_held();
    // The create is on its way: a SIGTERM, and a second signal while it is still held.
    signal(&child, libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(150));
    signal(&child, libc::SIGINT);
    let ended = wait(child);
    assert_eq!(ended.code(), Some(4), "{}: {}", ended.how(), ended.stderr);
    let id = org.account_named(&name).expect("the create completed");
    assert!(
        org.token_works(&token_out, &id),
        "the token of {id} was saved and works"
    );
    assert!(
        ended
            .stderr
            .contains("finishing the create so its one-time token is not lost")
            && ended.stderr.contains("SIGKILL"),
        "{}",
        ended.stderr
    );
    assert!(
        ended.stderr.contains("SIGINT") && ended.stderr.contains("SIGTERM"),
        "both signals acknowledged: {}",
        ended.stderr
    );
    let out = json(&ended.stdout);
    assert_eq!(out["serviceAccountId"], id.as_str(), "{out}");
    assert_eq!(out["verified"], false, "{out}");
    assert_eq!(out["error"]["kind"], "interrupted", "{out}");
    assert!(ended.stderr.contains(&id), "{}", ended.stderr);
    let saved = std::fs::read_to_string(&token_out).expect("token");
    assert!(
        !ended.mentions(saved.trim()),
        "the token is never printed unless asked"
    );
}

#[test]
fn a_signal_before_the_create_is_sent_creates_nothing() {
    let _serial = serial();
    let org = Org::start();
    // enroll's first request: the check that the name is free.
    let proxy = Proxy::start(
        org.emu.base_url(),
        "GET /auth/service-accounts ",
        Duration::from_millis(300),
    );
    let dir = tempfile::tempdir().expect("tmp");
    let name = unique_label("sig-early");
    let token_out = dir.path().join("early.token");
    let child = spawn(&mut org.enroll(&name, &token_out, Some(&proxy.url)));
    proxy.wait_held();
    signal(&child, libc::SIGINT);
    let ended = wait(child);
    assert_eq!(ended.code(), Some(130), "{}: {}", ended.how(), ended.stderr);
    assert!(
        ended.stderr.contains("nothing was created"),
        "{}",
        ended.stderr
    );
    assert_eq!(json(&ended.stdout)["error"]["kind"], "interrupted");
    assert_eq!(org.account_named(&name), None);
    assert!(!token_out.exists());
    assert!(!key_exists(&name), "stopped before the key was generated");
}

#[test]
fn create_finishes_a_create_in_flight_and_keeps_its_token() {
    let _serial = serial();
    let org = Org::start();
    let label = unique_label("sig-create");
    let (ok, _, err) = run(token().cli().args(["key", "generate", "--label", &label]));
    assert!(ok, "{err}");
    let proxy = Proxy::start(
        org.emu.base_url(),
        "POST /auth/service-accounts ",
        Duration::from_millis(500),
    );
    let dir = tempfile::tempdir().expect("tmp");
    let token_out: PathBuf = dir.path().join("create.token");
    let child = spawn(
        org.admin(Some(&proxy.url))
            .args([
                "--output",
                "json",
                "service-account",
                "create",
                "--name",
                &label,
                "--key",
                &label,
                "--permission-id",
                &org.permission_id,
                "--token-out",
            ])
            .arg(&token_out),
    );
    proxy.wait_held();
    signal(&child, libc::SIGTERM);
    let ended = wait(child);
    // Nothing is left half done: the account exists and its token is saved.
    assert_eq!(ended.code(), Some(0), "{}: {}", ended.how(), ended.stderr);
    let id = org.account_named(&label).expect("created");
    assert_eq!(json(&ended.stdout)["serviceAccountId"], id.as_str());
    assert!(org.token_works(&token_out, &id));
    assert!(
        ended
            .stderr
            .contains("finishing the create so its one-time token is not lost"),
        "{}",
        ended.stderr
    );
}

/// The library's guarantee, without the CLI or a signal: a stop requested before `enroll`
/// starts creates nothing; one requested while the create is in flight is deferred, and
/// `enroll` returns the account with its token stored, unproven.
#[test]
fn the_library_stops_before_the_create_or_defers_the_stop_until_the_token_is_stored() {
    use dfns_hsm::api::{ApiUrl, AuthToken, DfnsClient};
    use dfns_hsm::signer::SoftwareSigner;
    use dfns_hsm::workflow::{
        enroll, AccountRequest, EnrollRequest, Enrolled, Interrupt, StopRequest, TokenFile,
        WorkflowError,
    };
    use std::sync::Arc;

    let _serial = serial();
    let org = Org::start();
    let proxy = Proxy::start(
        org.emu.base_url(),
        "POST /auth/service-accounts ",
        Duration::from_millis(500),
    );
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let hsm = token().open();
    let signer = SoftwareSigner::from_pem_file(&org.emu.admin_key_path(), &org.emu.admin_cred_id())
        .expect("admin key");
    let admin = DfnsClient::builder(
        ApiUrl::parse(&proxy.url).expect("url"),
        AuthToken::new(org.emu.admin_token()).expect("token"),
    )
    .maybe_signer(Some(Arc::new(signer)))
    .build()
    .expect("client");
    let request = |name: &str| EnrollRequest {
        account: AccountRequest {
            name: name.to_owned(),
            permission_id: Some(org.permission_id.clone()),
            ..AccountRequest::default()
        },
        key_label: name.to_owned(),
        ..EnrollRequest::default()
    };

    let early = unique_label("lib-early");
    let stopped = Interrupt::new();
    assert_eq!(stopped.request(), StopRequest::Stopping);
    let err = rt
        .block_on(enroll(&admin, &hsm, &request(&early), None, &stopped))
        .expect_err("stopped");
    assert!(
        matches!(
            err,
            WorkflowError::Interrupted {
                generated_key: None
            }
        ),
        "{err}"
    );
    assert_eq!(org.account_named(&early), None);
    assert!(!key_exists(&early));

    let late = unique_label("lib-late");
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("late.token");
    let store = TokenFile::prepare(&path).expect("store");
    let interrupt = Interrupt::new();
    let run = {
        let (admin, hsm, request, interrupt) = (
            admin.clone(),
            Arc::clone(&hsm),
            request(&late),
            interrupt.clone(),
        );
        rt.spawn(async move { enroll(&admin, &hsm, &request, Some(&store), &interrupt).await })
    };
    proxy.wait_held();
    assert_eq!(interrupt.request(), StopRequest::Deferred);
    let enrolled = rt.block_on(run).expect("joined").expect("enrolled");
    let Enrolled::Unproven(e) = enrolled else {
        panic!("not Unproven: {enrolled:?}");
    };
    let id = e.created.account.id().to_owned();
    assert_eq!(e.created.stored_at.as_deref(), path.to_str());
    assert!(e.key_generated);
    assert_eq!(org.account_named(&late).as_deref(), Some(id.as_str()));
    assert!(org.token_works(&path, &id));
}

#[test]
fn a_deferred_create_whose_answer_is_lost_is_reconciled_and_reported_with_exit_4() {
    let _serial = serial();
    // The create is carried out, then its answer (and the token in it) is lost.
    let org = Org::start_with(&[
        "--drop-response-rate",
        "1",
        "--drop-response-route",
        "POST /auth/service-accounts",
        "--drop-response-mode",
        "close",
    ]);
    let proxy = Proxy::start(
        org.emu.base_url(),
        "POST /auth/service-accounts ",
        Duration::from_millis(300),
    );
    let dir = tempfile::tempdir().expect("tmp");
    let name = unique_label("sig-lost");
    let token_out = dir.path().join("lost.token");
    let child = spawn(&mut org.enroll(&name, &token_out, Some(&proxy.url)));
    proxy.wait_held();
    signal(&child, libc::SIGINT);
    let ended = wait(child);
    assert_eq!(ended.code(), Some(4), "{}: {}", ended.how(), ended.stderr);
    let id = org
        .account_named(&name)
        .expect("the create was carried out");
    assert!(!token_out.exists());
    assert_eq!(json(&ended.stdout)["error"]["kind"], "tokenLost");
    assert!(ended.stderr.contains(&id), "{}", ended.stderr);
    assert!(
        ended
            .stderr
            .contains("finishing the create so its one-time token is not lost"),
        "{}",
        ended.stderr
    );
}
