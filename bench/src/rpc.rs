//! Section 4: over p11-kit's RPC. The benchmark's SoftHSM2 token served by `p11-kit server` on
//! a unix socket in the token's temp dir, loaded through `p11-kit-client.so`: every PKCS#11 call
//! is a round trip, as with a network HSM's client library. Raw one-call `C_Sign` vs
//! `HsmSigner::sign` at equal concurrency, then the pool's scaling.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dfns_hsm::hsm::Algorithm;
use dfns_hsm::signer::HsmSigner;
use testkit::{Implementation, TestToken};

use crate::pool::PoolRow;
use crate::setup;
use crate::signing::{self, signer_rate, CRED_ID};
use crate::stats::{median, Rate};

/// Where Debian and Ubuntu put p11-kit's client module.
const CLIENTS: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so",
    "/usr/lib/aarch64-linux-gnu/pkcs11/p11-kit-client.so",
];

/// Pool sizes measured over the RPC.
pub const SIZES: &[usize] = &[1, 2, 4, 8];

/// `p11-kit server`, stopped on drop.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One concurrency level: raw one-call C_Sign, signer, median ratio of the rounds.
pub struct RpcRow {
    /// Threads (raw) and tasks (signer).
    pub concurrency: usize,
    /// Raw one-call C_Sign.
    pub raw: Rate,
    /// HsmSigner::sign.
    pub signer: Rate,
    /// Median of the per-round signer / raw ratios.
    pub ratio: f64,
}

/// What the section measured.
pub struct RpcResult {
    /// p11-kit's version, as `p11-kit --help` cannot tell: the package's.
    pub version: String,
    /// Signer vs raw one-call C_Sign.
    pub rows: Vec<RpcRow>,
    /// Pool sizes with `tasks` concurrent signing tasks.
    pub pool: Vec<PoolRow>,
}

fn version() -> String {
    Command::new("dpkg-query")
        .args(["-W", "-f", "${Version}", "p11-kit"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_else(|| "unknown".into())
}

fn start_server(token: &TestToken) -> Result<(Server, PathBuf), String> {
    let socket = token.path().join("bench-p11kit.sock");
    let log = std::fs::File::create(token.path().join("bench-p11kit.log"))
        .map_err(|e| format!("create the server log: {e}"))?;
    let child = Command::new("p11-kit")
        .arg("server")
        .arg("-f")
        .arg("-n")
        .arg(&socket)
        .arg("--provider")
        .arg(&token.module)
        .arg(format!("pkcs11:token={}", token.label))
        .envs(token.env())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("start p11-kit server: {e}"))?;
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        if Instant::now() > deadline {
            return Err("p11-kit server did not create its socket within 10 s".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((server, socket))
}

/// Run the section; an error (with the reason) when it cannot run here.
pub fn run(
    rt: &tokio::runtime::Runtime,
    token: &TestToken,
    seconds: f64,
    rounds: usize,
    concurrency: &[usize],
    tasks: usize,
) -> Result<RpcResult, String> {
    if token.implementation != Implementation::SoftHsm2 {
        return Err("serves the SoftHSM2 token; run with DFNS_TEST_PKCS11 unset".into());
    }
    let client = CLIENTS
        .iter()
        .map(Path::new)
        .find(|p| p.exists())
        .ok_or("p11-kit-client.so is not installed (package p11-kit-modules)")?;
    let (_server, socket) = start_server(token)?;
    // Read by the client module at C_Initialize, which happens below (first load of it).
    std::env::set_var(
        "P11_KIT_SERVER_ADDRESS",
        format!("unix:path={}", socket.display()),
    );
    let alg = Algorithm::EcdsaP256;
    let label = setup::key_label(alg);
    let d = Duration::from_secs_f64(seconds);
    let hsm = token.open_with(client, setup::pool_of(8));
    if !hsm.module().one_call_sign() {
        return Err("no one-call C_Sign through p11-kit-client.so".into());
    }
    let key = setup::find_key(&hsm, alg);
    let signer = HsmSigner::new(std::sync::Arc::clone(&key), CRED_ID)
        .map_err(|e| format!("HsmSigner::new: {e}"))?;
    let mut rows = Vec::new();
    for &n in concurrency {
        signing::raw_one_call(hsm.module(), hsm.slot(), &label, alg, n, d / 10);
        signer_rate(rt, &signer, n, d / 10);
        let (mut raw, mut sig) = (Rate::default(), Rate::default());
        let mut ratios = Vec::new();
        for r in 0..rounds {
            let run_raw = || signing::raw_one_call(hsm.module(), hsm.slot(), &label, alg, n, d);
            let run_sig = || signer_rate(rt, &signer, n, d);
            let (a, b) = if r % 2 == 0 {
                let a = run_raw();
                (a, run_sig())
            } else {
                let b = run_sig();
                (run_raw(), b)
            };
            ratios.push(b.per_sec() / a.per_sec());
            raw.add(a);
            sig.add(b);
        }
        rows.push(RpcRow {
            concurrency: n,
            raw,
            signer: sig,
            ratio: median(&ratios),
        });
    }
    let mut pool = Vec::new();
    let mut keep = Vec::new();
    for &sessions in SIZES {
        let t = token.open_with(client, setup::pool_of(sessions));
        let signer = HsmSigner::new(setup::find_key(&t, alg), CRED_ID)
            .map_err(|e| format!("HsmSigner::new: {e}"))?;
        signer_rate(rt, &signer, sessions, Duration::from_millis(100));
        let rate = signer_rate(rt, &signer, tasks, d * 2);
        pool.push(PoolRow { sessions, rate });
        keep.push(t);
    }
    Ok(RpcResult {
        version: version(),
        rows,
        pool,
    })
}
