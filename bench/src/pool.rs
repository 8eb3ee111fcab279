//! Section 3: pool scaling behind a slow HSM. Runs in a child process, because the
//! fault-injecting module forwards to SoftHSM2 and reads its `FAULTY_*` settings at
//! `C_Initialize`, which is once per process.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use dfns_hsm::hsm::Algorithm;
use dfns_hsm::signer::HsmSigner;
use serde_json::json;
use testkit::TestToken;

use crate::setup;
use crate::signing::{self, signer_rate, CRED_ID};
use crate::stats::Rate;

/// Pool sizes measured.
pub const SIZES: &[usize] = &[1, 4, 8, 16];

/// One row: pool size and its rate.
#[derive(Debug, Clone)]
pub struct PoolRow {
    /// Worker sessions in the pool.
    pub sessions: usize,
    /// Signatures per second with that pool.
    pub rate: Rate,
}

/// What the child measured.
#[derive(Debug, Clone)]
pub struct PoolResult {
    /// One row per pool size.
    pub rows: Vec<PoolRow>,
    /// Raw C_Sign (cryptoki's two calls), raw one-call C_Sign and HsmSigner::sign rates, one
    /// session each, behind the same latency.
    pub versus_raw: Option<(Rate, Rate, Rate)>,
}

/// Run the child and parse its output; an error (with the reason) when the module is missing.
pub fn run(
    token: &TestToken,
    faulty: &Path,
    latency_ms: u64,
    tasks: usize,
    seconds: f64,
) -> Result<PoolResult, String> {
    if !faulty.exists() {
        return Err(format!("{} not built", faulty.display()));
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new(exe)
        .arg("pool-child")
        .arg(faulty)
        .arg(&token.pin_file)
        .arg(tasks.to_string())
        .arg(seconds.to_string())
        .envs(token.env())
        .env("FAULTY_PKCS11_MODULE", &token.module)
        .env("FAULTY_SIGN_LATENCY_MS", latency_ms.to_string())
        .output()
        .map_err(|e| format!("start the pool child: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "pool child failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let mut rows = Vec::new();
    let mut versus_raw = None;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("pool child output {line:?}: {e}"))?;
        let rate = |ops: &str, secs: &str| Rate {
            ops: v[ops].as_u64().unwrap_or(0),
            elapsed: Duration::from_secs_f64(v[secs].as_f64().unwrap_or(0.0)),
        };
        if v.get("raw_ops").is_some() {
            versus_raw = Some((
                rate("raw_ops", "raw_secs"),
                rate("raw1_ops", "raw1_secs"),
                rate("signer_ops", "signer_secs"),
            ));
            continue;
        }
        rows.push(PoolRow {
            sessions: v["sessions"].as_u64().unwrap_or(0) as usize,
            rate: Rate {
                ops: v["ops"].as_u64().unwrap_or(0),
                elapsed: Duration::from_secs_f64(v["secs"].as_f64().unwrap_or(0.0)),
            },
        });
    }
    Ok(PoolResult { rows, versus_raw })
}

/// The child: `pool-child FAULTY_MODULE PIN_FILE TASKS SECONDS`; prints one JSON line per size.
pub fn child(args: &[String]) {
    let [faulty, pin_file, tasks, seconds] = args else {
        panic!("usage: dfns-hsm-bench pool-child FAULTY_MODULE PIN_FILE TASKS SECONDS");
    };
    let tasks: usize = tasks.parse().expect("TASKS is a number");
    let duration = Duration::from_secs_f64(seconds.parse().expect("SECONDS is a number"));
    // The parent made the token and passed its environment; only open it here.
    let open = |sessions| {
        testkit::hsm::open(
            Path::new(faulty),
            testkit::LABEL,
            Path::new(pin_file),
            setup::pool_of(sessions),
        )
    };
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    // Signer vs raw C_Sign at equal concurrency (one session) behind the same slow token.
    {
        let t = open(1);
        let key = setup::find_key(&t, Algorithm::EcdsaP256);
        let label = setup::key_label(Algorithm::EcdsaP256);
        let raw = signing::raw(
            t.module().ctx(),
            t.slot(),
            &label,
            Algorithm::EcdsaP256,
            1,
            duration,
        );
        let raw1 = signing::raw_one_call(
            t.module(),
            t.slot(),
            &label,
            Algorithm::EcdsaP256,
            1,
            duration,
        );
        let signer = HsmSigner::new(key, CRED_ID).expect("HsmSigner::new");
        let sig = signer_rate(&rt, &signer, 1, duration);
        println!(
            "{}",
            json!({"raw_ops": raw.ops, "raw_secs": raw.elapsed.as_secs_f64(),
                "raw1_ops": raw1.ops, "raw1_secs": raw1.elapsed.as_secs_f64(),
                "signer_ops": sig.ops, "signer_secs": sig.elapsed.as_secs_f64()})
        );
    }
    let mut keep = Vec::new();
    for &sessions in SIZES {
        let t = open(sessions);
        let key = setup::find_key(&t, Algorithm::EcdsaP256);
        let signer = HsmSigner::new(key, CRED_ID).expect("HsmSigner::new");
        // Warm the pool: open its sessions before timing.
        signer_rate(&rt, &signer, sessions, Duration::from_millis(100));
        let rate = signer_rate(&rt, &signer, tasks, duration);
        println!(
            "{}",
            json!({"sessions": sessions, "ops": rate.ops, "secs": rate.elapsed.as_secs_f64()})
        );
        keep.push(t);
    }
}
