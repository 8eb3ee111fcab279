//! Section 6: `dfns-hsm serve`, the HSM signer as a local service. Its `/v1/sign` over a unix
//! socket vs `HsmSigner::sign` in process; its Dfns proxy vs `DfnsClient` in process; and the
//! service process's peak memory under that load; and the official TypeScript SDK with
//! `HsmRemoteSigner` (through the service) vs the same SDK with an in-memory key.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dfns_hsm::hsm::Key;
use dfns_hsm::signer::{HsmSigner, Signer as _, UserActionChallenge};
use serde_json::json;
use testkit::TestToken;

use crate::http::Conn;
use crate::signing::{CHALLENGE, CRED_ID};
use crate::stats::{Latencies, Rate};

/// How long the service may take to answer `GET /healthz` after its start (login, key lookup,
/// pair proof).
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a SIGTERM'd service may take to exit (its default grace is 10 s).
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// A `dfns-hsm serve` child process, killed on drop if still running.
pub struct ServeProcess {
    child: Option<Child>,
    /// Its unix socket.
    pub socket: PathBuf,
    log: PathBuf,
    /// The socket directory (0700), config and log; removed on drop.
    _dir: tempfile::TempDir,
}

/// A fresh owner-only directory for a service's socket, config and log.
pub fn private_dir() -> Result<tempfile::TempDir, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
        .map_err(|e| format!("chmod 0700 the socket dir: {e}"))?;
    Ok(dir)
}

impl ServeProcess {
    /// Start `BIN serve ARGS` on `token` (module, label and PIN file by environment, as
    /// `TestToken::cli_at` sets them) and wait until `GET /healthz` answers 200 on `socket`.
    pub fn start(
        rt: &tokio::runtime::Runtime,
        token: &TestToken,
        bin: &Path,
        args: &[OsString],
        dir: tempfile::TempDir,
        socket: PathBuf,
    ) -> Result<ServeProcess, String> {
        Self::start_with(rt, token, bin, args, &[], dir, socket)
    }

    /// [`ServeProcess::start`] with more environment (set after the token's).
    pub fn start_with(
        rt: &tokio::runtime::Runtime,
        token: &TestToken,
        bin: &Path,
        args: &[OsString],
        env: &[(&str, OsString)],
        dir: tempfile::TempDir,
        socket: PathBuf,
    ) -> Result<ServeProcess, String> {
        let log = dir.path().join("serve.log");
        let file = std::fs::File::create(&log).map_err(|e| format!("log file: {e}"))?;
        let child = token
            .cli_at(bin)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .arg("serve")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .map_err(|e| format!("start {}: {e}", bin.display()))?;
        let mut p = ServeProcess {
            child: Some(child),
            socket,
            log,
            _dir: dir,
        };
        let started = Instant::now();
        while started.elapsed() < START_TIMEOUT {
            if let Some(status) = p.child_mut().try_wait().map_err(|e| e.to_string())? {
                p.child = None;
                return Err(format!(
                    "dfns-hsm serve exited ({status}): {}",
                    p.log_tail()
                ));
            }
            let healthy = rt.block_on(async {
                let mut c = Conn::connect(&p.socket).await.ok()?;
                c.request("GET", "/healthz", None).await.ok()
            });
            if healthy.is_some_and(|a| a.status == 200) {
                return Ok(p);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!(
            "dfns-hsm serve: no 200 from GET /healthz within {START_TIMEOUT:?}: {}",
            p.log_tail()
        ))
    }

    fn child_mut(&mut self) -> &mut Child {
        self.child.as_mut().expect("the service is running")
    }

    /// The last lines of its stderr.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// A field of `/proc/PID/status` in KiB (`VmHWM`: peak resident set, `VmRSS`: now).
    pub fn status_kib(&self, field: &str) -> Option<u64> {
        let pid = self.child.as_ref()?.id();
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// CPU time (user + system) the service has used so far, all threads (clock-tick
    /// resolution, from `/proc/PID/stat`).
    pub fn cpu_time(&self) -> Duration {
        let Some(pid) = self.child.as_ref().map(Child::id) else {
            return Duration::ZERO;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the command name (which may hold spaces): state is field 3, utime 14,
        // stime 15.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let ticks: u64 = [11, 12]
            .iter()
            .filter_map(|&i| fields.get(i).and_then(|v| v.parse::<u64>().ok()))
            .sum();
        // SAFETY: sysconf has no memory effects.
        let hz = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) })
            .unwrap_or(100)
            .max(1);
        Duration::from_secs_f64(ticks as f64 / hz as f64)
    }

    /// SIGTERM, then wait (bounded) for a clean exit: status 0 and the socket removed.
    pub fn stop(mut self) -> Result<(), String> {
        let Some(mut child) = self.child.take() else {
            return Err("not running".into());
        };
        let pid = libc::pid_t::try_from(child.id()).map_err(|e| e.to_string())?;
        // SAFETY: `pid` is our child, not yet reaped (so not reused); kill has no memory effects.
        if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
            return Err(format!("SIGTERM: {}", std::io::Error::last_os_error()));
        }
        let started = Instant::now();
        while started.elapsed() < STOP_TIMEOUT {
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                if !status.success() {
                    return Err(format!(
                        "exited {status} after SIGTERM: {}",
                        self.log_tail()
                    ));
                }
                if self.socket.exists() {
                    return Err("exited 0 but left its socket behind".into());
                }
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        Err(format!(
            "still running {STOP_TIMEOUT:?} after SIGTERM (killed)"
        ))
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The `/v1/sign` body: the challenge the in-process signer signs, as an SDK hands it over.
pub fn sign_body() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "challenge": CHALLENGE,
        "challengeIdentifier": "ci-bench",
        "allowCredentials": {"key": [{"type": "public-key", "id": CRED_ID}]},
    }))
    .expect("json")
}

/// One `/v1/sign` through the service, checked independently: a Key assertion for
/// [`CRED_ID`] over `{"challenge":...,"type":"key.get"}` that RustCrypto's P-256 verifies
/// with `key`'s public key.
pub fn check_one_signature(
    rt: &tokio::runtime::Runtime,
    socket: &Path,
    key: &Key,
) -> Result<(), String> {
    let answer = rt.block_on(async {
        let mut c = Conn::connect(socket)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        c.request("POST", "/v1/sign", Some(&sign_body())).await
    })?;
    if answer.status != 200 {
        return Err(format!(
            "/v1/sign answered {}: {}",
            answer.status,
            answer.text()
        ));
    }
    let ff: serde_json::Value =
        serde_json::from_slice(&answer.body).map_err(|e| format!("/v1/sign: not JSON: {e}"))?;
    let a = &ff["credentialAssertion"];
    if ff["kind"] != "Key" || a["credId"] != CRED_ID {
        return Err(format!("/v1/sign: not a Key assertion for {CRED_ID}: {ff}"));
    }
    let data = testkit::verify::b64url_decode(a["clientData"].as_str().unwrap_or_default());
    let sig = testkit::verify::b64url_decode(a["signature"].as_str().unwrap_or_default());
    if data != format!(r#"{{"challenge":"{CHALLENGE}","type":"key.get"}}"#).into_bytes() {
        return Err(format!("/v1/sign: unexpected clientData {data:?}"));
    }
    if !testkit::verify::verify_p256(key.info().spki_der(), &data, &sig) {
        return Err("/v1/sign: the signature does not verify with the key's public key".into());
    }
    Ok(())
}

/// `clients` concurrent clients, each on its own kept-alive connection, each sending one
/// request after the other for `duration`; every answer must be 200.
/// `request(client, i)` gives (method, path, body) of a client's `i`-th request.
pub fn http_load(
    rt: &tokio::runtime::Runtime,
    socket: &Path,
    clients: usize,
    duration: Duration,
    request: impl Fn(usize, u64) -> (&'static str, String, Vec<u8>) + Send + Sync + 'static,
) -> Result<(Rate, Latencies), String> {
    let request = Arc::new(request);
    rt.block_on(async {
        let start = Arc::new(tokio::sync::Barrier::new(clients));
        let mut handles = Vec::with_capacity(clients);
        for c in 0..clients {
            let mut conn = Conn::connect(socket)
                .await
                .map_err(|e| format!("connect {}: {e}", socket.display()))?;
            let (start, request) = (Arc::clone(&start), Arc::clone(&request));
            handles.push(tokio::spawn(async move {
                start.wait().await;
                let started = Instant::now();
                let mut lat = Vec::new();
                let mut i = 0u64;
                while started.elapsed() < duration {
                    let (method, path, body) = request(c, i);
                    let t0 = Instant::now();
                    let a = conn.request(method, &path, Some(&body)).await?;
                    lat.push(t0.elapsed());
                    if a.status != 200 {
                        return Err(format!(
                            "{method} {path} answered {}: {}",
                            a.status,
                            a.text()
                        ));
                    }
                    i += 1;
                }
                Ok::<_, String>((started.elapsed(), lat))
            }));
        }
        let mut rate = Rate::default();
        let mut all = Vec::new();
        for h in handles {
            let (elapsed, lat) = h.await.map_err(|e| format!("client task: {e}"))??;
            rate.ops += lat.len() as u64;
            rate.elapsed = rate.elapsed.max(elapsed);
            all.extend(lat);
        }
        Ok((rate, Latencies(all)))
    })
}

/// `POST /v1/sign` from `clients` concurrent connections for `duration`.
pub fn service_sign(
    rt: &tokio::runtime::Runtime,
    socket: &Path,
    clients: usize,
    duration: Duration,
) -> Result<(Rate, Latencies), String> {
    let body = sign_body();
    http_load(rt, socket, clients, duration, move |_, _| {
        ("POST", "/v1/sign".to_owned(), body.clone())
    })
}

/// `HsmSigner::sign` of the same challenge from `tasks` concurrent tasks for `duration`,
/// with each call's latency.
pub fn in_process_sign(
    rt: &tokio::runtime::Runtime,
    signer: &HsmSigner,
    tasks: usize,
    duration: Duration,
) -> (Rate, Latencies) {
    let challenge = UserActionChallenge::for_key(CHALLENGE, "ci-bench", CRED_ID);
    rt.block_on(async {
        let start = Arc::new(tokio::sync::Barrier::new(tasks));
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let (signer, challenge) = (signer.clone(), challenge.clone());
                let start = Arc::clone(&start);
                tokio::spawn(async move {
                    start.wait().await;
                    let started = Instant::now();
                    let mut lat = Vec::new();
                    while started.elapsed() < duration {
                        let t0 = Instant::now();
                        let a = signer.sign(&challenge).await.expect("HsmSigner::sign");
                        lat.push(t0.elapsed());
                        std::hint::black_box(a);
                    }
                    (started.elapsed(), lat)
                })
            })
            .collect();
        let mut rate = Rate::default();
        let mut all = Vec::new();
        for h in handles {
            let (elapsed, lat) = h.await.expect("signer task");
            rate.ops += lat.len() as u64;
            rate.elapsed = rate.elapsed.max(elapsed);
            all.extend(lat);
        }
        (rate, Latencies(all))
    })
}

/// Signed `PUT /auth/service-accounts/{id}` through the service's proxy
/// (`PUT /v1/dfns/auth/service-accounts/{id}`) from `clients` connections for `duration`,
/// after a warm-up of 10.
pub fn proxy_load(
    rt: &tokio::runtime::Runtime,
    socket: &Path,
    account_id: &str,
    clients: usize,
    duration: Duration,
    round: usize,
) -> Result<(Rate, Latencies), String> {
    let path = format!("/v1/dfns/auth/service-accounts/{account_id}");
    let body = |id: String| serde_json::to_vec(&json!({ "externalId": id })).expect("json");
    rt.block_on(async {
        let mut c = Conn::connect(socket)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        for i in 0..10 {
            let a = c
                .request("PUT", &path, Some(&body(format!("pwarm-{round}-{i}"))))
                .await?;
            if a.status != 200 {
                return Err(format!("PUT {path} answered {}: {}", a.status, a.text()));
            }
        }
        Ok::<_, String>(())
    })?;
    http_load(rt, socket, clients, duration, move |c, i| {
        ("PUT", path.clone(), body(format!("p{round}-t{c}-{i}")))
    })
}

/// The config of the service behind the SDK and proxy comparisons: one identity (the
/// benchmark account's HSM key and its Dfns token), and the tokenless unix-socket client
/// allowed to update service accounts through the proxy.
pub fn proxy_config(
    dir: &Path,
    api_url: &str,
    cred_id: &str,
    key_label: &str,
    token_file: &Path,
) -> Result<(PathBuf, PathBuf), String> {
    let socket = dir.join("app.sock");
    let text = format!(
        r#"[dfns]
api_url = {api_url}

[[listen]]
address = {address}

[[identity]]
name = "bench-app"
cred_id = {cred_id}
key = {key_label}
auth_token_file = {token_file}

[[client]]
name = "bench-app"
identities = ["bench-app"]
allow = ["PUT /auth/service-accounts/*"]
"#,
        api_url = toml_str(api_url),
        address = toml_str(&format!("unix:{}", socket.display())),
        cred_id = toml_str(cred_id),
        key_label = toml_str(key_label),
        token_file = toml_str(&token_file.display().to_string()),
    );
    let path = dir.join("serve.toml");
    std::fs::write(&path, text).map_err(|e| format!("write the config: {e}"))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("chmod the config: {e}"))?;
    Ok((path, socket))
}

/// A TOML basic string (the values here are paths, URLs and ids: JSON escaping is TOML's).
fn toml_str(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// What the section is run with.
pub struct SectionOptions<'a> {
    /// `target/release/dfns-hsm`.
    pub cli: &'a Path,
    /// Concurrent clients of the signing comparison.
    pub concurrency: &'a [usize],
    /// Seconds per round of the signing comparison.
    pub seconds: f64,
    /// Alternating rounds of the signing comparison.
    pub rounds: usize,
    /// Concurrent loops of the SDK and proxy comparisons.
    pub tasks: usize,
    /// Seconds per round of those.
    pub e2e_seconds: f64,
    /// Their alternating rounds.
    pub e2e_rounds: usize,
    /// `scripts/bench-sdk/bench-sdk.js`, when Node is there.
    pub sdk_script: Option<&'a Path>,
    /// `dfns-emulator`.
    pub emulator: &'a Path,
    /// `libfaulty_pkcs11.so`, for the slow-HSM variant.
    pub faulty_module: &'a Path,
    /// Milliseconds it adds to every `C_Sign`.
    pub faulty_latency_ms: u64,
}

/// Run the section: the table text and the JSON figures.
pub fn section(
    rt: &tokio::runtime::Runtime,
    token: &TestToken,
    o: &SectionOptions<'_>,
) -> (String, serde_json::Value) {
    use std::fmt::Write as _;
    let mut out = String::new();
    let mut j = serde_json::Map::new();
    let label = crate::setup::key_label(dfns_hsm::hsm::Algorithm::EcdsaP256);

    // 6a. /v1/sign vs HsmSigner::sign.
    let _ = writeln!(
        out,
        "\n6. dfns-hsm serve: POST /v1/sign over a unix socket (SoftHSM2 P-256; one kept-alive connection per client; the service's default pool of 8 sessions) vs HsmSigner::sign in process (pool of 8), {} alternating rounds of {} s\n",
        o.rounds, o.seconds
    );
    let mut rss = Vec::new();
    match sign_comparison(rt, token, o, &label) {
        Ok((rows, r)) => {
            sign_table(&mut out, &rows, true);
            j.insert("sign".into(), json!(rows));
            rss.push(r);
        }
        Err(e) => {
            let _ = writeln!(out, "failed: {e}");
        }
    }
    let _ = writeln!(
        out,
        "\n6a'. The same behind a slow HSM: tests/faulty-pkcs11 adding {} ms to every C_Sign in front of the same token, for the service and for HsmSigner::sign (in a child process), both with the default pool of 8 sessions, {} alternating rounds of {} s\n",
        o.faulty_latency_ms, o.rounds, o.seconds
    );
    match slow_sign_comparison(rt, token, o, o.faulty_module, o.faulty_latency_ms) {
        Ok((rows, r)) => {
            sign_table(&mut out, &rows, false);
            j.insert(
                "sign_slow_hsm".into(),
                json!({"latency_ms": o.faulty_latency_ms, "rows": rows}),
            );
            rss.push(r);
        }
        Err(e) => {
            let _ = writeln!(out, "skipped: {e}");
        }
    }

    // 6b and 6c: a fresh emulator (its per-request cost grows with the challenges it
    // remembers, so earlier sections' load would slow it), an account whose key is the
    // benchmark's P-256 key, and the service with a config: that account's identity with its
    // Dfns token. The proxy first, then the SDK (whose in-memory runs add accounts).
    let own = token.open();
    let key = crate::setup::find_key(&own, dfns_hsm::hsm::Algorithm::EcdsaP256);
    let emu = testkit::Emulator::builder()
        .binary(o.emulator)
        .max_lifetime_secs(900)
        .start();
    let account = crate::e2e::enroll(rt, &emu, &key);
    let app = private_dir().and_then(|dir| {
        let (config, socket) = proxy_config(
            dir.path(),
            emu.base_url(),
            &account.cred_id,
            &label,
            &account.token_file,
        )?;
        let args = [OsString::from("--config"), config.into_os_string()];
        ServeProcess::start(rt, token, o.cli, &args, dir, socket)
    });
    let app = match app {
        Ok(a) => a,
        Err(e) => {
            let _ = writeln!(out, "\n6b-6c. the service with a config: failed: {e}");
            return (out, serde_json::Value::Object(j));
        }
    };
    let idle_kib = app.status_kib("VmRSS");
    let d = Duration::from_secs_f64(o.e2e_seconds);
    let row = |name: &str, v: &serde_json::Value| {
        format!(
            "| {name} | {:.0} | {:.2} | {:.2} |",
            v["per_sec"].as_f64().unwrap_or(0.0),
            v["p50_ms"].as_f64().unwrap_or(0.0),
            v["p99_ms"].as_f64().unwrap_or(0.0)
        )
    };

    let _ = writeln!(
        out,
        "\n6b. The proxy: PUT /v1/dfns/auth/service-accounts/{{id}} over the unix socket (the service runs init + sign + action + PUT with the identity's Dfns token) vs DfnsClient + HsmSigner in process, against a fresh dfns-emulator, {} concurrent, {} alternating rounds of {} s\n",
        o.tasks, o.e2e_rounds, o.e2e_seconds
    );
    match proxy_comparison(rt, &account, &app, o.tasks, d, o.e2e_rounds) {
        Ok(p) => {
            let cpu = |v: &serde_json::Value| v["cpu_us"].as_f64().unwrap_or(0.0);
            let _ = writeln!(
                out,
                "| client | mutations/s | p50 ms | p99 ms | CPU µs per mutation outside the emulator |"
            );
            let _ = writeln!(out, "|---|---:|---:|---:|---:|");
            let _ = writeln!(
                out,
                "{} {:.0} (HTTP client + service) |",
                row(
                    "HTTP client through the proxy (no key, no Dfns token)",
                    &p["proxy"]
                ),
                cpu(&p["proxy"])
            );
            let _ = writeln!(
                out,
                "{} {:.0} |",
                row("DfnsClient + HsmSigner in process", &p["in_process"]),
                cpu(&p["in_process"])
            );
            let _ = writeln!(
                out,
                "| **proxy / in-process** (median of {} rounds) | **{:.3}** | | | |",
                o.e2e_rounds,
                p["ratio"].as_f64().unwrap_or(0.0)
            );
            j.insert("proxy".into(), p);
        }
        Err(e) => {
            let _ = writeln!(out, "failed: {e}");
        }
    }

    let _ = writeln!(
        out,
        "\n6c. Official TS SDK: signed PUT /auth/service-accounts/{{id}} against the same emulator, {} concurrent, @dfns/sdk + HsmRemoteSigner (dfns-hsm serve, SoftHSM2 P-256) vs @dfns/sdk + sdk-keysigner (in-memory P-256), {} alternating rounds of {} s\n",
        o.tasks, o.e2e_rounds, o.e2e_seconds
    );
    match o.sdk_script {
        None => {
            let _ = writeln!(
                out,
                "skipped (no --sdk-script: Node >= 20 with npm not found)"
            );
        }
        Some(script) => {
            match sdk_comparison(&emu, &account, &app, script, o.tasks, d, o.e2e_rounds) {
                Ok(s) => {
                    let _ = writeln!(out, "| signer | mutations/s | p50 ms | p99 ms |");
                    let _ = writeln!(out, "|---|---:|---:|---:|");
                    let _ = writeln!(
                        out,
                        "{}",
                        row(
                            &format!(
                                "@dfns/sdk + HsmRemoteSigner (unix socket, Node {})",
                                crate::node_version()
                            ),
                            &s["remote"]
                        )
                    );
                    let _ = writeln!(
                        out,
                        "{}",
                        row("@dfns/sdk + sdk-keysigner (in-memory key)", &s["in_memory"])
                    );
                    let _ = writeln!(
                        out,
                        "| **HsmRemoteSigner / in-memory** (median of {} rounds) | **{:.3}** | | |",
                        o.e2e_rounds,
                        s["ratio"].as_f64().unwrap_or(0.0)
                    );
                    j.insert("sdk".into(), s);
                }
                Err(e) => {
                    let _ = writeln!(out, "failed: {e}");
                }
            }
        }
    }
    rss.push(json!({
        "service": "config: identity with a Dfns token, proxy allow list",
        "load": "6b (proxy) and 6c (HsmRemoteSigner)",
        "idle_rss_mib": idle_kib.map(mib),
        "peak_rss_mib": app.status_kib("VmHWM").map(mib),
        "stop": app.stop().map_or_else(|e| e, |()| "SIGTERM: exit 0, socket removed".into()),
    }));

    let _ = writeln!(
        out,
        "\n6d. The service process's memory: VmRSS after start, VmHWM (peak) after the load; and its stop\n"
    );
    let _ = writeln!(
        out,
        "| service | under | RSS after start MiB | peak RSS MiB | SIGTERM |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---|");
    let f = |v: &serde_json::Value| v.as_f64().map_or("?".into(), |m| format!("{m:.1}"));
    for r in &rss {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            r["service"].as_str().unwrap_or_default(),
            r["load"].as_str().unwrap_or_default(),
            f(&r["idle_rss_mib"]),
            f(&r["peak_rss_mib"]),
            r["stop"].as_str().unwrap_or_default()
        );
    }
    j.insert("rss".into(), json!(rss));
    (out, serde_json::Value::Object(j))
}

/// CPU time (user + system) this process has used so far, all threads.
pub fn self_cpu_time() -> Duration {
    // SAFETY: getrusage writes into the zeroed struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid, writable rusage.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// Microseconds of `cpu` per operation of `rate`.
fn us_per_op(cpu: Duration, rate: &Rate) -> f64 {
    if rate.ops == 0 {
        return 0.0;
    }
    cpu.as_secs_f64() * 1e6 / rate.ops as f64
}

/// The table of a signing comparison (with the CPU columns when measured).
fn sign_table(out: &mut String, rows: &[serde_json::Value], cpu: bool) {
    use std::fmt::Write as _;
    let f = |r: &serde_json::Value, k: &str| r[k].as_f64().unwrap_or(0.0);
    let _ = write!(
        out,
        "| clients | HsmSigner::sign/s | service /v1/sign/s | service / in-process (median of rounds) | in-process p50 ms | service p50 ms | added p50 ms | in-process p99 ms | service p99 ms |"
    );
    let _ = if cpu {
        writeln!(
            out,
            " in-process CPU µs/sig | service CPU µs/req | HTTP client CPU µs/req |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        )
    } else {
        writeln!(out, "\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    };
    for r in rows {
        let _ = write!(
            out,
            "| {} | {:.0} | {:.0} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
            r["clients"],
            f(r, "in_process_per_sec"),
            f(r, "service_per_sec"),
            f(r, "ratio"),
            f(r, "in_process_p50_ms"),
            f(r, "service_p50_ms"),
            f(r, "added_p50_ms"),
            f(r, "in_process_p99_ms"),
            f(r, "service_p99_ms"),
        );
        let _ = if cpu {
            writeln!(
                out,
                " {:.0} | {:.0} | {:.0} |",
                f(r, "in_process_cpu_us"),
                f(r, "service_cpu_us"),
                f(r, "client_cpu_us")
            )
        } else {
            writeln!(out)
        };
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// 6a: the flags-only service, and per concurrency alternating rounds of in-process and
/// service signing. The rows, and the service's memory figures.
fn sign_comparison(
    rt: &tokio::runtime::Runtime,
    token: &TestToken,
    o: &SectionOptions<'_>,
    label: &str,
) -> Result<(Vec<serde_json::Value>, serde_json::Value), String> {
    // Our own login with the default options: the same pool size (8) the service runs with.
    let own = token.open();
    let key = crate::setup::find_key(&own, dfns_hsm::hsm::Algorithm::EcdsaP256);
    let signer = HsmSigner::new(Arc::clone(&key), CRED_ID).map_err(|e| e.to_string())?;
    let dir = private_dir()?;
    let socket = dir.path().join("sign.sock");
    let args = [
        OsString::from("--listen"),
        OsString::from(format!("unix:{}", socket.display())),
        OsString::from("--identity"),
        OsString::from(format!("{CRED_ID}={label}")),
    ];
    let service = ServeProcess::start(rt, token, o.cli, &args, dir, socket)?;
    let idle_kib = service.status_kib("VmRSS");
    check_one_signature(rt, &service.socket, &key)?;
    let d = Duration::from_secs_f64(o.seconds);
    let mut rows = Vec::new();
    for &n in o.concurrency {
        // Warm-up both paths (sessions opened, connections accepted, pages touched).
        in_process_sign(rt, &signer, n, d / 5);
        service_sign(rt, &service.socket, n, d / 5)?;
        let (mut ours, mut ours_lat) = (Rate::default(), Latencies::default());
        let (mut svc, mut svc_lat) = (Rate::default(), Latencies::default());
        let mut ratios = Vec::new();
        // CPU spent: in process; by the benchmark's HTTP clients; by the service.
        let (mut cpu_in, mut cpu_client, mut cpu_service) =
            (Duration::ZERO, Duration::ZERO, Duration::ZERO);
        let run_in = |cpu_in: &mut Duration| {
            let t = self_cpu_time();
            let r = in_process_sign(rt, &signer, n, d);
            *cpu_in += self_cpu_time().saturating_sub(t);
            r
        };
        let run_svc = |cpu_client: &mut Duration, cpu_service: &mut Duration| {
            let (t, s) = (self_cpu_time(), service.cpu_time());
            let r = service_sign(rt, &service.socket, n, d);
            *cpu_client += self_cpu_time().saturating_sub(t);
            *cpu_service += service.cpu_time().saturating_sub(s);
            r
        };
        for r in 0..o.rounds {
            // Back to back, alternating which goes first (outside load hits both alike).
            let (a, b) = if r % 2 == 0 {
                let a = run_in(&mut cpu_in);
                (a, run_svc(&mut cpu_client, &mut cpu_service)?)
            } else {
                let b = run_svc(&mut cpu_client, &mut cpu_service)?;
                (run_in(&mut cpu_in), b)
            };
            ratios.push(b.0.per_sec() / a.0.per_sec());
            ours.add(a.0);
            ours_lat.0.extend(a.1 .0);
            svc.add(b.0);
            svc_lat.0.extend(b.1 .0);
        }
        let (p50_in, p50_svc) = (ours_lat.percentile_ms(50.0), svc_lat.percentile_ms(50.0));
        rows.push(json!({
            "clients": n,
            "in_process_per_sec": ours.per_sec(),
            "service_per_sec": svc.per_sec(),
            "ratio": crate::stats::median(&ratios),
            "in_process_p50_ms": p50_in,
            "service_p50_ms": p50_svc,
            "added_p50_ms": p50_svc - p50_in,
            "in_process_p99_ms": ours_lat.percentile_ms(99.0),
            "service_p99_ms": svc_lat.percentile_ms(99.0),
            "in_process_cpu_us": us_per_op(cpu_in, &ours),
            "client_cpu_us": us_per_op(cpu_client, &svc),
            "service_cpu_us": us_per_op(cpu_service, &svc),
        }));
    }
    let conc: Vec<String> = o.concurrency.iter().map(ToString::to_string).collect();
    let rss = json!({
        "service": "flags only: --listen unix:... --identity CRED=LABEL",
        "load": format!("6a (/v1/sign at {} clients)", conc.join(", ")),
        "idle_rss_mib": idle_kib.map(mib),
        "peak_rss_mib": service.status_kib("VmHWM").map(mib),
        "stop": service.stop().map_or_else(|e| e, |()| "SIGTERM: exit 0, socket removed".into()),
    });
    Ok((rows, rss))
}

/// 6b: `node bench-sdk.js` with `HsmRemoteSigner` on the service's socket (the benchmark
/// account, its key on the HSM) and with an in-memory key, in alternating rounds.
fn sdk_comparison(
    emu: &testkit::Emulator,
    account: &crate::e2e::HsmAccount,
    app: &ServeProcess,
    script: &Path,
    tasks: usize,
    d: Duration,
    rounds: usize,
) -> Result<serde_json::Value, String> {
    let remote = [
        OsString::from("--hsm-socket"),
        app.socket.clone().into_os_string(),
        OsString::from("--account-id"),
        OsString::from(&account.id),
        OsString::from("--token-file"),
        account.token_file.clone().into_os_string(),
    ];
    let (mut rem, mut rem_lat) = (Rate::default(), Latencies::default());
    let (mut mem, mut mem_lat) = (Rate::default(), Latencies::default());
    let mut ratios = Vec::new();
    for r in 0..rounds {
        let run_remote = || crate::e2e::sdk_load(script, emu, tasks, d, &remote);
        let run_memory = || crate::e2e::sdk_load(script, emu, tasks, d, &[]);
        let (a, b) = if r % 2 == 0 {
            let a = run_remote()?;
            (a, run_memory()?)
        } else {
            let b = run_memory()?;
            (run_remote()?, b)
        };
        ratios.push(a.0.per_sec() / b.0.per_sec());
        rem.add(a.0);
        rem_lat.0.extend(a.1 .0);
        mem.add(b.0);
        mem_lat.0.extend(b.1 .0);
    }
    let fig = |rate: &Rate, lat: &Latencies| {
        json!({"per_sec": rate.per_sec(), "p50_ms": lat.percentile_ms(50.0),
            "p99_ms": lat.percentile_ms(99.0)})
    };
    Ok(json!({
        "tasks": tasks,
        "remote": fig(&rem, &rem_lat),
        "in_memory": fig(&mem, &mem_lat),
        "ratio": crate::stats::median(&ratios),
    }))
}

/// 6c: the proxy vs `DfnsClient` + `HsmSigner` in process, in alternating rounds.
fn proxy_comparison(
    rt: &tokio::runtime::Runtime,
    account: &crate::e2e::HsmAccount,
    app: &ServeProcess,
    tasks: usize,
    d: Duration,
    rounds: usize,
) -> Result<serde_json::Value, String> {
    let (mut px, mut px_lat) = (Rate::default(), Latencies::default());
    let (mut ours, mut ours_lat) = (Rate::default(), Latencies::default());
    let mut ratios = Vec::new();
    // CPU outside the emulator: the benchmark's HTTP clients and the service, or DfnsClient +
    // HsmSigner in process (warm-ups included: 10 of some thousand mutations).
    let (mut cpu_proxy, mut cpu_ours) = (Duration::ZERO, Duration::ZERO);
    for r in 0..rounds {
        let mut run_proxy = || {
            let (t, s) = (self_cpu_time(), app.cpu_time());
            let out = proxy_load(rt, &app.socket, &account.id, tasks, d, r);
            cpu_proxy += self_cpu_time().saturating_sub(t) + app.cpu_time().saturating_sub(s);
            out
        };
        let mut run_ours = || {
            let t = self_cpu_time();
            let out = crate::e2e::dfns_hsm_load(rt, account, tasks, d, 100 + r);
            cpu_ours += self_cpu_time().saturating_sub(t);
            out
        };
        let (a, b) = if r % 2 == 0 {
            let a = run_proxy()?;
            (a, run_ours())
        } else {
            let b = run_ours();
            (run_proxy()?, b)
        };
        ratios.push(a.0.per_sec() / b.0.per_sec());
        px.add(a.0);
        px_lat.0.extend(a.1 .0);
        ours.add(b.0);
        ours_lat.0.extend(b.1 .0);
    }
    let fig = |rate: &Rate, lat: &Latencies| {
        json!({"per_sec": rate.per_sec(), "p50_ms": lat.percentile_ms(50.0),
            "p99_ms": lat.percentile_ms(99.0)})
    };
    let (mut proxy, mut in_process) = (fig(&px, &px_lat), fig(&ours, &ours_lat));
    proxy["cpu_us"] = json!(us_per_op(cpu_proxy, &px));
    in_process["cpu_us"] = json!(us_per_op(cpu_ours, &ours));
    Ok(json!({
        "tasks": tasks,
        "proxy": proxy,
        "in_process": in_process,
        "ratio": crate::stats::median(&ratios),
    }))
}

/// 6a behind a slow HSM: `tests/faulty-pkcs11` adding `latency_ms` to every `C_Sign` in front
/// of the same SoftHSM2 token (a network HSM), for the service and, in a child process (the
/// module reads its settings at `C_Initialize`, once per process), for `HsmSigner::sign`.
/// Both with the default pool of 8 sessions. The rows, and the service's memory figures.
pub fn slow_sign_comparison(
    rt: &tokio::runtime::Runtime,
    token: &TestToken,
    o: &SectionOptions<'_>,
    faulty: &Path,
    latency_ms: u64,
) -> Result<(Vec<serde_json::Value>, serde_json::Value), String> {
    if !faulty.exists() {
        return Err(format!("{} not built", faulty.display()));
    }
    let label = crate::setup::key_label(dfns_hsm::hsm::Algorithm::EcdsaP256);
    let dir = private_dir()?;
    let socket = dir.path().join("slow.sock");
    let args = [
        OsString::from("--listen"),
        OsString::from(format!("unix:{}", socket.display())),
        OsString::from("--identity"),
        OsString::from(format!("{CRED_ID}={label}")),
    ];
    let slow_env = [
        ("FAULTY_PKCS11_MODULE", token.module.as_os_str().to_owned()),
        ("FAULTY_SIGN_LATENCY_MS", latency_ms.to_string().into()),
    ];
    let service = ServeProcess::start_with(
        rt,
        token,
        o.cli,
        &args,
        &[
            &[("DFNS_HSM_MODULE", faulty.as_os_str().to_owned())],
            &slow_env[..],
        ]
        .concat(),
        dir,
        socket,
    )?;
    let idle_kib = service.status_kib("VmRSS");
    let d = Duration::from_secs_f64(o.seconds);
    let in_process = |n: usize| -> Result<(Rate, Latencies), String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let out = std::process::Command::new(exe)
            .arg("serve-slow-child")
            .arg(faulty)
            .arg(&token.pin_file)
            .arg(n.to_string())
            .arg(o.seconds.to_string())
            .envs(token.env())
            .envs(slow_env.iter().map(|(k, v)| (k, v)))
            .output()
            .map_err(|e| format!("start the in-process child: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "the in-process child failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let v: serde_json::Value = serde_json::from_str(text.lines().last().unwrap_or_default())
            .map_err(|e| format!("in-process child output {text:?}: {e}"))?;
        let lat = v["latencies_us"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(serde_json::Value::as_u64)
                    .map(Duration::from_micros)
                    .collect()
            })
            .unwrap_or_default();
        Ok((
            Rate {
                ops: v["ops"].as_u64().unwrap_or(0),
                elapsed: Duration::from_secs_f64(v["secs"].as_f64().unwrap_or(0.0)),
            },
            Latencies(lat),
        ))
    };
    let mut rows = Vec::new();
    for &n in o.concurrency {
        // Warm-up the service (its sessions open); the child warms itself up.
        service_sign(rt, &service.socket, n, d / 5)?;
        let (mut ours, mut ours_lat) = (Rate::default(), Latencies::default());
        let (mut svc, mut svc_lat) = (Rate::default(), Latencies::default());
        let mut ratios = Vec::new();
        for r in 0..o.rounds {
            let (a, b) = if r % 2 == 0 {
                let a = in_process(n)?;
                (a, service_sign(rt, &service.socket, n, d)?)
            } else {
                let b = service_sign(rt, &service.socket, n, d)?;
                (in_process(n)?, b)
            };
            ratios.push(b.0.per_sec() / a.0.per_sec());
            ours.add(a.0);
            ours_lat.0.extend(a.1 .0);
            svc.add(b.0);
            svc_lat.0.extend(b.1 .0);
        }
        let (p50_in, p50_svc) = (ours_lat.percentile_ms(50.0), svc_lat.percentile_ms(50.0));
        rows.push(json!({
            "clients": n,
            "in_process_per_sec": ours.per_sec(),
            "service_per_sec": svc.per_sec(),
            "ratio": crate::stats::median(&ratios),
            "in_process_p50_ms": p50_in,
            "service_p50_ms": p50_svc,
            "added_p50_ms": p50_svc - p50_in,
            "in_process_p99_ms": ours_lat.percentile_ms(99.0),
            "service_p99_ms": svc_lat.percentile_ms(99.0),
        }));
    }
    let conc: Vec<String> = o.concurrency.iter().map(ToString::to_string).collect();
    let rss = json!({
        "service": format!("flags only, behind faulty-pkcs11 (+{latency_ms} ms per C_Sign)"),
        "load": format!("6a' (/v1/sign at {} clients)", conc.join(", ")),
        "idle_rss_mib": idle_kib.map(mib),
        "peak_rss_mib": service.status_kib("VmHWM").map(mib),
        "stop": service.stop().map_or_else(|e| e, |()| "SIGTERM: exit 0, socket removed".into()),
    });
    Ok((rows, rss))
}

/// The child of [`slow_sign_comparison`]: `serve-slow-child FAULTY_MODULE PIN_FILE TASKS
/// SECONDS`; `HsmSigner::sign` with the default pool after a warm-up, one JSON line.
pub fn slow_child(args: &[String]) {
    let [faulty, pin_file, tasks, seconds] = args else {
        panic!("usage: dfns-hsm-bench serve-slow-child FAULTY_MODULE PIN_FILE TASKS SECONDS");
    };
    let tasks: usize = tasks.parse().expect("TASKS is a number");
    let duration = Duration::from_secs_f64(seconds.parse().expect("SECONDS is a number"));
    let t = testkit::hsm::open(
        Path::new(faulty),
        testkit::LABEL,
        Path::new(pin_file),
        dfns_hsm::hsm::TokenOptions::default(),
    );
    let key = crate::setup::find_key(&t, dfns_hsm::hsm::Algorithm::EcdsaP256);
    let signer = HsmSigner::new(key, CRED_ID).expect("HsmSigner::new");
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    in_process_sign(&rt, &signer, tasks, duration / 5);
    let (rate, lat) = in_process_sign(&rt, &signer, tasks, duration);
    let us: Vec<u64> = lat
        .0
        .iter()
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .collect();
    println!(
        "{}",
        json!({"ops": rate.ops, "secs": rate.elapsed.as_secs_f64(), "latencies_us": us})
    );
}
