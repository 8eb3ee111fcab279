//! `dfns-hsm-bench`: every performance goal of dfns-hsm as a ratio measured in one run on one
//! token. See `docs/PERFORMANCE.md`; `scripts/bench.sh` builds and runs it.
//!
//! ```text
//! dfns-hsm-bench [--seconds S] [--rounds R] [--concurrency 1,2,4]
//!                [--only sign,pool,rpc,e2e,cold,serve]
//!                [--sdk-script PATH] [--faulty-module PATH] [--faulty-latency-ms MS]
//!                [--pool-tasks N] [--emulator PATH] [--cli PATH] [--e2e-tasks N]
//!                [--e2e-seconds S] [--e2e-rounds N] [--cold-runs N]
//!                [--serve-concurrency 1,16,64] [--serve-seconds S] [--serve-rounds R]
//!                [--json FILE]
//! ```

mod cold;
mod e2e;
mod http;
mod pool;
mod rpc;
mod serve;
mod setup;
mod signing;
mod stats;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use dfns_hsm::hsm::Algorithm;
use serde_json::json;

use stats::{median, Latencies, Rate};

/// Command-line options.
struct Options {
    seconds: f64,
    rounds: usize,
    concurrency: Vec<usize>,
    only: Vec<String>,
    sdk_script: Option<PathBuf>,
    faulty_module: PathBuf,
    emulator: PathBuf,
    cli: PathBuf,
    faulty_latency_ms: u64,
    pool_tasks: usize,
    e2e_tasks: usize,
    e2e_seconds: f64,
    e2e_rounds: usize,
    cold_runs: usize,
    serve_concurrency: Vec<usize>,
    serve_seconds: f64,
    serve_rounds: usize,
    json: Option<PathBuf>,
}

impl Options {
    fn parse() -> Options {
        let mut o = Options {
            seconds: 0.5,
            rounds: 6,
            concurrency: vec![1, 2, 4],
            only: Vec::new(),
            sdk_script: None,
            faulty_module: setup::bin_dir().join("libfaulty_pkcs11.so"),
            emulator: setup::bin_dir().join("dfns-emulator"),
            cli: setup::bin_dir().join("dfns-hsm"),
            faulty_latency_ms: 2,
            pool_tasks: 16,
            e2e_tasks: 4,
            e2e_seconds: 2.0,
            e2e_rounds: 3,
            cold_runs: 10,
            serve_concurrency: vec![1, 16, 64],
            serve_seconds: 1.0,
            serve_rounds: 4,
            json: None,
        };
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            let mut value = || {
                args.next()
                    .unwrap_or_else(|| panic!("{flag} needs a value"))
            };
            match flag.as_str() {
                "--seconds" => o.seconds = value().parse().expect("--seconds: a number"),
                "--rounds" => o.rounds = value().parse().expect("--rounds: a count"),
                "--concurrency" => {
                    o.concurrency = value()
                        .split(',')
                        .map(|n| n.parse().expect("--concurrency: counts, comma separated"))
                        .collect()
                }
                "--only" => o.only = value().split(',').map(str::to_owned).collect(),
                "--sdk-script" => o.sdk_script = Some(PathBuf::from(value())),
                "--faulty-module" => o.faulty_module = PathBuf::from(value()),
                "--emulator" => o.emulator = PathBuf::from(value()),
                "--cli" => o.cli = PathBuf::from(value()),
                "--faulty-latency-ms" => {
                    o.faulty_latency_ms = value().parse().expect("--faulty-latency-ms: ms")
                }
                "--pool-tasks" => o.pool_tasks = value().parse().expect("--pool-tasks: a count"),
                "--e2e-tasks" => o.e2e_tasks = value().parse().expect("--e2e-tasks: a count"),
                "--e2e-seconds" => o.e2e_seconds = value().parse().expect("--e2e-seconds"),
                "--e2e-rounds" => o.e2e_rounds = value().parse().expect("--e2e-rounds"),
                "--cold-runs" => o.cold_runs = value().parse().expect("--cold-runs: a count"),
                "--serve-concurrency" => {
                    o.serve_concurrency = value()
                        .split(',')
                        .map(|n| {
                            n.parse()
                                .expect("--serve-concurrency: counts, comma separated")
                        })
                        .collect()
                }
                "--serve-seconds" => o.serve_seconds = value().parse().expect("--serve-seconds"),
                "--serve-rounds" => o.serve_rounds = value().parse().expect("--serve-rounds"),
                "--json" => o.json = Some(PathBuf::from(value())),
                other => panic!("unknown option {other} (see the source header for usage)"),
            }
        }
        o
    }

    fn wants(&self, section: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == section)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("pool-child") {
        pool::child(&args[2..]);
        return;
    }
    if args.get(1).map(String::as_str) == Some("serve-slow-child") {
        serve::slow_child(&args[2..]);
        return;
    }
    let o = Options::parse();
    let mut out = String::new();
    let mut report = serde_json::Map::new();
    let _ = writeln!(out, "{}", machine_line());
    report.insert("machine".into(), json!(machine_line()));

    let token = testkit::token();
    let all = [
        Algorithm::EcdsaP256,
        Algorithm::Ed25519,
        Algorithm::EcdsaSecp256k1,
        Algorithm::Rsa2048,
    ];
    let max_conc = o.concurrency.iter().copied().max().unwrap_or(1).max(8);
    let hsm = token.open_with(&token.module, setup::pool_of(max_conc));
    setup::generate_keys(&hsm, &all);
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");

    if o.wants("sign") {
        eprintln!("bench: raw C_Sign vs HsmSigner::sign");
        let _ = writeln!(
            out,
            "\n1-2. Signing on SoftHSM2: raw C_Sign (cryptoki only, one session per thread) vs HsmSigner::sign\n"
        );
        let _ = writeln!(
            out,
            "| algorithm | concurrency | raw C_Sign/s | HsmSigner::sign/s | signer / raw (median of rounds) |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|");
        let mut rows = Vec::new();
        for alg in all {
            let key = setup::find_key(&hsm, alg);
            let label = setup::key_label(alg);
            let main_alg = matches!(alg, Algorithm::EcdsaP256 | Algorithm::Ed25519);
            let rounds = if main_alg { o.rounds } else { 2 };
            let concs: Vec<usize> = if main_alg {
                o.concurrency.clone()
            } else {
                vec![1, *o.concurrency.get(1).unwrap_or(&2)]
            };
            for &n in &concs {
                let d = Duration::from_secs_f64(o.seconds);
                // Warm-up both paths (sessions opened, pages touched).
                signing::raw(hsm.module().ctx(), hsm.slot(), &label, alg, n, d / 10);
                signing::signer(&rt, &key, n, d / 10);
                let (mut raw, mut sig) = (Rate::default(), Rate::default());
                let mut ratios = Vec::new();
                for r in 0..rounds {
                    // Back to back, alternating which goes first, so that load from elsewhere
                    // on a noisy machine hits both sides of each ratio alike.
                    let run_raw =
                        || signing::raw(hsm.module().ctx(), hsm.slot(), &label, alg, n, d);
                    let run_sig = || signing::signer(&rt, &key, n, d);
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
                // The median of the per-round ratios resists a burst of outside load.
                let ratio = median(&ratios);
                let _ = writeln!(
                    out,
                    "| {alg} | {n} | {:.0} | {:.0} | {ratio:.3} |",
                    raw.per_sec(),
                    sig.per_sec()
                );
                rows.push(json!({"algorithm": alg.to_string(), "concurrency": n,
                    "raw_per_sec": raw.per_sec(), "signer_per_sec": sig.per_sec(), "ratio": ratio}));
            }
        }
        report.insert("signing".into(), json!(rows));
        let _ = writeln!(
            out,
            "\nWhere one signature's time goes (concurrency 1, mean microseconds per call)\n"
        );
        let _ = writeln!(
            out,
            "| algorithm | raw C_Sign | Key::sign | self-check verify | sign + verify | HsmSigner::sign |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
        let mut parts = Vec::new();
        for alg in [Algorithm::EcdsaP256, Algorithm::Ed25519] {
            let key = setup::find_key(&hsm, alg);
            let b = signing::breakdown(
                &rt,
                hsm.module().ctx(),
                hsm.slot(),
                &key,
                &setup::key_label(alg),
                Duration::from_secs_f64(o.seconds / 2.0),
            );
            let _ = writeln!(
                out,
                "| {alg} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
                b.raw_us, b.key_sign_us, b.verify_us, b.sign_bytes_us, b.signer_us
            );
            parts.push(json!({"algorithm": alg.to_string(), "raw_us": b.raw_us,
                "key_sign_us": b.key_sign_us, "verify_us": b.verify_us,
                "sign_bytes_us": b.sign_bytes_us, "signer_us": b.signer_us}));
        }
        report.insert("breakdown".into(), json!(parts));
    }

    if o.wants("pool") {
        eprintln!("bench: pool scaling behind a slow HSM");
        let _ = writeln!(
            out,
            "\n3. HsmSigner::sign (P-256) through faulty-pkcs11 adding {} ms per C_Sign call, {} concurrent tasks\n",
            o.faulty_latency_ms, o.pool_tasks
        );
        match pool::run(
            token,
            &o.faulty_module,
            o.faulty_latency_ms,
            o.pool_tasks,
            o.seconds * 2.0,
        ) {
            Ok(pool::PoolResult { rows, versus_raw }) => {
                if let Some((raw, raw1, sig)) = versus_raw {
                    let x = sig.per_sec() / raw.per_sec();
                    let x1 = sig.per_sec() / raw1.per_sec();
                    let _ = writeln!(
                        out,
                        "Same latency, one session each: raw C_Sign (cryptoki, two calls) {:.0}/s, raw one-call C_Sign {:.0}/s, HsmSigner::sign {:.0}/s; signer / raw two-call {x:.3}, signer / raw one-call **{x1:.3}**\n",
                        raw.per_sec(),
                        raw1.per_sec(),
                        sig.per_sec()
                    );
                    report.insert(
                        "slow_hsm_signer_vs_raw".into(),
                        json!({"raw_per_sec": raw.per_sec(), "raw_one_call_per_sec": raw1.per_sec(),
                            "signer_per_sec": sig.per_sec(), "ratio": x, "ratio_one_call": x1}),
                    );
                }
                let _ = writeln!(out, "| pool sessions | signatures/s | x one session |");
                let _ = writeln!(out, "|---:|---:|---:|");
                let one = rows.first().map(|r| r.rate.per_sec()).unwrap_or(0.0);
                let mut j = Vec::new();
                for r in &rows {
                    let x = r.rate.per_sec() / one;
                    let _ = writeln!(out, "| {} | {:.0} | {x:.2} |", r.sessions, r.rate.per_sec());
                    j.push(
                        json!({"sessions": r.sessions, "per_sec": r.rate.per_sec(), "x_one": x}),
                    );
                }
                report.insert("pool".into(), json!(j));
            }
            Err(e) => {
                let _ = writeln!(out, "skipped: {e}");
            }
        }
    }

    if o.wants("rpc") {
        eprintln!("bench: over p11-kit's RPC");
        let _ = writeln!(
            out,
            "\n3b. Over p11-kit's RPC: the SoftHSM2 token served by `p11-kit server` (unix socket) to p11-kit-client.so, P-256\n"
        );
        match rpc::run(
            &rt,
            token,
            o.seconds,
            o.rounds.min(4),
            &o.concurrency,
            o.pool_tasks.min(8),
        ) {
            Ok(r) => {
                let _ = writeln!(out, "p11-kit {}\n", r.version);
                let _ = writeln!(
                    out,
                    "| concurrency | raw one-call C_Sign/s | HsmSigner::sign/s | signer / raw one-call (median of rounds) |"
                );
                let _ = writeln!(out, "|---:|---:|---:|---:|");
                let mut j = Vec::new();
                for row in &r.rows {
                    let _ = writeln!(
                        out,
                        "| {} | {:.0} | {:.0} | {:.3} |",
                        row.concurrency,
                        row.raw.per_sec(),
                        row.signer.per_sec(),
                        row.ratio
                    );
                    j.push(json!({"concurrency": row.concurrency, "raw_one_call_per_sec": row.raw.per_sec(),
                        "signer_per_sec": row.signer.per_sec(), "ratio": row.ratio}));
                }
                let _ = writeln!(
                    out,
                    "\n| pool sessions ({} tasks) | signatures/s | x one session |",
                    o.pool_tasks.min(8)
                );
                let _ = writeln!(out, "|---:|---:|---:|");
                let one = r.pool.first().map(|p| p.rate.per_sec()).unwrap_or(0.0);
                let mut pj = Vec::new();
                for p in &r.pool {
                    let x = p.rate.per_sec() / one;
                    let _ = writeln!(out, "| {} | {:.0} | {x:.2} |", p.sessions, p.rate.per_sec());
                    pj.push(
                        json!({"sessions": p.sessions, "per_sec": p.rate.per_sec(), "x_one": x}),
                    );
                }
                report.insert(
                    "rpc".into(),
                    json!({"version": r.version, "signing": j, "pool": pj}),
                );
            }
            Err(e) => {
                let _ = writeln!(out, "skipped: {e}");
            }
        }
    }

    let need_emu = o.wants("e2e") || o.wants("cold");
    let emu = need_emu.then(|| {
        testkit::Emulator::builder()
            .binary(&o.emulator)
            .max_lifetime_secs(900)
            .start()
    });
    let p256 = setup::find_key(&hsm, Algorithm::EcdsaP256);
    let account = emu.as_ref().map(|e| e2e::enroll(&rt, e, &p256));

    if let (true, Some(emu), Some(account)) = (o.wants("e2e"), &emu, &account) {
        eprintln!("bench: end to end against the emulator");
        let d = Duration::from_secs_f64(o.e2e_seconds);
        let (mut ours, mut ours_lat) = (Rate::default(), Latencies::default());
        let (mut sdk, mut sdk_lat) = (Rate::default(), Latencies::default());
        let mut sdk_err = None;
        let mut ratios = Vec::new();
        for r in 0..o.e2e_rounds {
            let (rate, lat) = e2e::dfns_hsm_load(&rt, account, o.e2e_tasks, d, r);
            ours.add(rate);
            ours_lat.0.extend(lat.0);
            if let Some(script) = &o.sdk_script {
                match e2e::sdk_load(script, emu, o.e2e_tasks, d, &[]) {
                    Ok((sdk_rate, lat)) => {
                        ratios.push(rate.per_sec() / sdk_rate.per_sec());
                        sdk.add(sdk_rate);
                        sdk_lat.0.extend(lat.0);
                    }
                    Err(e) => sdk_err = Some(e),
                }
            }
        }
        let _ = writeln!(
            out,
            "\n4. Signed PUT /auth/service-accounts/{{id}} (init + sign + action + PUT) against dfns-emulator on loopback, {} concurrent\n",
            o.e2e_tasks
        );
        let _ = writeln!(out, "| client | mutations/s | p50 ms | p99 ms |");
        let _ = writeln!(out, "|---|---:|---:|---:|");
        let _ = writeln!(
            out,
            "| dfns-hsm (SoftHSM2 P-256, DfnsClient + HsmSigner) | {:.0} | {:.2} | {:.2} |",
            ours.per_sec(),
            ours_lat.percentile_ms(50.0),
            ours_lat.percentile_ms(99.0)
        );
        let mut j = json!({"tasks": o.e2e_tasks, "dfns_hsm": {"per_sec": ours.per_sec(),
            "p50_ms": ours_lat.percentile_ms(50.0), "p99_ms": ours_lat.percentile_ms(99.0)}});
        match (&o.sdk_script, sdk_err) {
            (_, Some(e)) => {
                let _ = writeln!(out, "| @dfns/sdk | failed: {e} | | |");
            }
            (None, None) => {
                let _ = writeln!(out, "| @dfns/sdk | skipped (no --sdk-script) | | |");
            }
            (Some(_), None) => {
                let _ = writeln!(
                    out,
                    "| @dfns/sdk + sdk-keysigner (in-memory P-256, Node {}) | {:.0} | {:.2} | {:.2} |",
                    node_version(),
                    sdk.per_sec(),
                    sdk_lat.percentile_ms(50.0),
                    sdk_lat.percentile_ms(99.0)
                );
                let x = median(&ratios);
                let _ = writeln!(
                    out,
                    "| **dfns-hsm / SDK** (median of {} back-to-back rounds) | **{x:.2}** | | |",
                    ratios.len()
                );
                j["sdk"] = json!({"per_sec": sdk.per_sec(), "p50_ms": sdk_lat.percentile_ms(50.0),
                    "p99_ms": sdk_lat.percentile_ms(99.0)});
                j["ratio"] = json!(x);
            }
        }
        report.insert("e2e".into(), j);
    }

    if let (true, Some(emu), Some(account)) = (o.wants("cold"), &emu, &account) {
        eprintln!("bench: CLI cold start");
        let call = cold::CliCall {
            bin: &o.cli,
            api_url: emu.base_url(),
            token_file: &account.token_file,
            cred_id: &account.cred_id,
            key_label: &setup::key_label(Algorithm::EcdsaP256),
            token,
            account_id: &account.id,
        };
        let baseline = |n| {
            let mut c = std::process::Command::new(call.bin);
            c.env_clear().arg("--version");
            let _ = n;
            c
        };
        let _ = writeln!(
            out,
            "\n5. CLI cold start: process start to exit, release build, {} runs after one warm-up\n",
            o.cold_runs
        );
        let _ = writeln!(
            out,
            "| command | median wall ms | max wall ms | median max RSS MiB | max RSS MiB |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|");
        let mut j = Vec::new();
        for (name, make) in [
            (
                "dfns-hsm service-account update (signed, SoftHSM2)",
                &(|n| call.command(n)) as &dyn Fn(usize) -> std::process::Command,
            ),
            ("dfns-hsm --version (baseline)", &baseline),
        ] {
            let mut runs = Vec::new();
            let mut err = None;
            for n in 0..=o.cold_runs {
                match cold::measure(&make(n)) {
                    Ok(r) if n > 0 => runs.push(r),
                    Ok(_) => {}
                    Err(e) => {
                        err = Some(e);
                        break;
                    }
                }
            }
            if let Some(e) = err {
                let _ = writeln!(out, "| {name} | failed: {e} | | | |");
                continue;
            }
            let walls: Vec<f64> = runs.iter().map(|r| r.wall.as_secs_f64() * 1e3).collect();
            let rss: Vec<f64> = runs.iter().map(|r| r.max_rss_kib as f64 / 1024.0).collect();
            let (wm, wx) = (median(&walls), walls.iter().copied().fold(0.0, f64::max));
            let (rm, rx) = (median(&rss), rss.iter().copied().fold(0.0, f64::max));
            let _ = writeln!(out, "| {name} | {wm:.1} | {wx:.1} | {rm:.1} | {rx:.1} |");
            j.push(
                json!({"command": name, "median_wall_ms": wm, "max_wall_ms": wx,
                "median_rss_mib": rm, "max_rss_mib": rx}),
            );
        }
        report.insert("cold".into(), json!(j));
    }

    drop(account);
    drop(emu);

    if o.wants("serve") {
        eprintln!("bench: dfns-hsm serve");
        let (text, j) = serve::section(
            &rt,
            token,
            &serve::SectionOptions {
                cli: &o.cli,
                concurrency: &o.serve_concurrency,
                seconds: o.serve_seconds,
                rounds: o.serve_rounds,
                tasks: o.e2e_tasks,
                e2e_seconds: o.e2e_seconds,
                e2e_rounds: o.e2e_rounds,
                sdk_script: o.sdk_script.as_deref(),
                emulator: &o.emulator,
                faulty_module: &o.faulty_module,
                faulty_latency_ms: o.faulty_latency_ms,
            },
        );
        out.push_str(&text);
        report.insert("serve".into(), j);
    }

    goals(&mut out, &report);
    println!("{out}");
    if let Some(path) = &o.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report).expect("json"))
            .expect("write --json file");
    }
}

fn machine_line() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let softhsm = std::process::Command::new("softhsm2-util")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!("machine: {cores} cores, {cpu}; SoftHSM2 {softhsm}; all figures from this one run")
}

fn node_version() -> String {
    std::process::Command::new("node")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// The issue's goals, read off this run's figures (reported, never asserted).
fn goals(out: &mut String, r: &serde_json::Map<String, serde_json::Value>) {
    // (goal, this run, met: None when only reported)
    let mut rows: Vec<(String, String, Option<bool>)> = Vec::new();
    if let Some(sign) = r.get("signing").and_then(|v| v.as_array()) {
        for alg in ["ecdsa-p256", "ed25519"] {
            let worst = sign
                .iter()
                .filter(|x| x["algorithm"] == alg)
                .filter_map(|x| x["ratio"].as_f64())
                .fold(f64::INFINITY, f64::min);
            if worst.is_finite() {
                rows.push((
                    format!("{alg}: signer / raw C_Sign at equal concurrency on SoftHSM2 (reported, not a goal: the mandatory self-check costs a verify per signature)"),
                    format!("{worst:.3} (lowest)"),
                    None,
                ));
            }
        }
    }
    if let Some(rpc) = r.get("rpc").and_then(|v| v["signing"].as_array()) {
        let worst = rpc
            .iter()
            .filter_map(|x| x["ratio"].as_f64())
            .fold(f64::INFINITY, f64::min);
        if worst.is_finite() {
            rows.push((
                "p11-kit RPC: signer / raw one-call C_Sign >= 0.95 at equal concurrency".into(),
                format!("{worst:.3} (lowest)"),
                Some(worst >= 0.95),
            ));
        }
    }
    if let Some(x) = r
        .get("slow_hsm_signer_vs_raw")
        .and_then(|v| v["ratio_one_call"].as_f64())
    {
        rows.push((
            "2 ms HSM: signer / raw one-call C_Sign >= 0.95 at equal concurrency".into(),
            format!("{x:.3}"),
            Some(x >= 0.95),
        ));
    }
    if let Some(pool) = r.get("pool").and_then(|v| v.as_array()) {
        if let Some(x) = pool
            .iter()
            .find(|p| p["sessions"] == 8)
            .and_then(|p| p["x_one"].as_f64())
        {
            rows.push((
                "2 ms HSM: 8 sessions >= 7x one session".into(),
                format!("{x:.2}x"),
                Some(x >= 7.0),
            ));
        }
    }
    if let Some(x) = r.get("e2e").and_then(|v| v["ratio"].as_f64()) {
        rows.push((
            "end to end: dfns-hsm >= 2x the official SDK".into(),
            format!("{x:.2}x"),
            Some(x >= 2.0),
        ));
    }
    if let Some(cold) = r
        .get("cold")
        .and_then(|v| v.as_array())
        .and_then(|c| c.first())
    {
        if let (Some(w), Some(m)) = (
            cold["median_wall_ms"].as_f64(),
            cold["max_rss_mib"].as_f64(),
        ) {
            rows.push((
                "signed CLI call < 50 ms wall and < 20 MB peak RSS".into(),
                format!("{w:.1} ms, {m:.1} MiB"),
                Some(w < 50.0 && m < 20.0),
            ));
        }
    }
    if let Some(serve) = r.get("serve") {
        if let Some(sign) = serve["sign"].as_array() {
            let at = |n: u64| {
                sign.iter()
                    .find(|x| x["clients"].as_u64() == Some(n))
                    .and_then(|x| x["ratio"].as_f64())
            };
            let goal: Vec<(u64, f64)> = [16, 64]
                .into_iter()
                .filter_map(|n| at(n).map(|x| (n, x)))
                .collect();
            if !goal.is_empty() {
                let text: Vec<String> = goal.iter().map(|(n, x)| format!("{n}: {x:.3}")).collect();
                rows.push((
                    "serve: /v1/sign over a unix socket >= 0.9x HsmSigner::sign in process at 16 and 64 clients".into(),
                    text.join(", "),
                    Some(goal.iter().all(|(_, x)| *x >= 0.9)),
                ));
            }
            if let Some(x) = at(1) {
                rows.push((
                    "serve: /v1/sign / in process at 1 client (reported)".into(),
                    format!("{x:.3}"),
                    None,
                ));
            }
        }
        if let Some(slow) = serve["sign_slow_hsm"]["rows"].as_array() {
            let goal: Vec<(u64, f64)> = slow
                .iter()
                .filter(|x| matches!(x["clients"].as_u64(), Some(16 | 64)))
                .filter_map(|x| Some((x["clients"].as_u64()?, x["ratio"].as_f64()?)))
                .collect();
            if !goal.is_empty() {
                let text: Vec<String> = goal.iter().map(|(n, x)| format!("{n}: {x:.3}")).collect();
                rows.push((
                    format!(
                        "serve, {} ms HSM: /v1/sign >= 0.9x HsmSigner::sign in process at 16 and 64 clients",
                        serve["sign_slow_hsm"]["latency_ms"]
                    ),
                    text.join(", "),
                    Some(goal.iter().all(|(_, x)| *x >= 0.9)),
                ));
            }
        }
        if let Some(x) = serve["sdk"]["ratio"].as_f64() {
            rows.push((
                "serve: @dfns/sdk + HsmRemoteSigner >= 0.9x @dfns/sdk + in-memory key".into(),
                format!("{x:.3}"),
                Some(x >= 0.9),
            ));
        }
        if let Some(x) = serve["proxy"]["ratio"].as_f64() {
            rows.push((
                "serve: proxy mutations/s >= 0.9x DfnsClient in process".into(),
                format!("{x:.3}"),
                Some(x >= 0.9),
            ));
        }
        if let Some(rss) = serve["rss"].as_array() {
            let peaks: Vec<String> = rss
                .iter()
                .filter_map(|x| x["peak_rss_mib"].as_f64())
                .map(|m| format!("{m:.1} MiB"))
                .collect();
            if !peaks.is_empty() {
                rows.push((
                    "serve: peak RSS of the service under load (reported; sign service, app service)".into(),
                    peaks.join(", "),
                    None,
                ));
            }
        }
    }
    let _ = writeln!(out, "\nGoals (read off this run, not asserted)\n");
    let _ = writeln!(out, "| goal | this run | met |");
    let _ = writeln!(out, "|---|---:|---|");
    for (goal, value, met) in rows {
        let _ = writeln!(
            out,
            "| {goal} | {value} | {} |",
            match met {
                Some(true) => "yes",
                Some(false) => "no",
                None => "(reported)",
            }
        );
    }
}
