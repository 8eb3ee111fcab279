//! Section 4: signed service-account mutations end to end against a local emulator, for
//! dfns-hsm (SoftHSM2 key) and for Dfns's official TypeScript SDK (in-memory key).

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dfns_hsm::api::{
    ApiUrl, AuthToken, CreatePermission, CreateServiceAccount, DfnsClient, Outcome,
    UpdateServiceAccount,
};
use dfns_hsm::hsm::Key;
use dfns_hsm::signer::{HsmSigner, SoftwareSigner};

use testkit::Emulator;

use crate::stats::{Latencies, Rate};

/// A service account whose key is on the HSM, ready to sign its own mutations.
pub struct HsmAccount {
    /// Its id.
    pub id: String,
    /// Its credential id.
    pub cred_id: String,
    /// Its token, in a 0600 file (for the CLI).
    pub token_file: PathBuf,
    /// A client signing with the HSM key.
    pub client: DfnsClient,
}

/// As the emulator's admin, create a service account for `key`, allowed to update service
/// accounts (a new account holds no permission), and return a client for it.
pub fn enroll(rt: &tokio::runtime::Runtime, emu: &Emulator, key: &Arc<Key>) -> HsmAccount {
    let url = ApiUrl::parse(emu.base_url()).expect("emulator URL");
    let admin_signer = SoftwareSigner::from_pem_file(&emu.admin_key_path(), &emu.admin_cred_id())
        .expect("admin key");
    let admin = DfnsClient::builder(
        url.clone(),
        AuthToken::new(emu.admin_token()).expect("admin token"),
    )
    .signer(Arc::new(admin_signer))
    .build()
    .expect("admin client");
    let pem = key
        .info()
        .public_key_pem
        .clone()
        .expect("the key has a public key");
    let permission = rt
        .block_on(admin.permissions().create(&CreatePermission {
            name: "bench-hsm-update".into(),
            operations: vec!["Auth:ServiceAccounts:Update".into()],
        }))
        .expect("create the benchmark permission");
    let Outcome::Done(permission) = permission else {
        panic!("permission creation is pending approval");
    };
    let created = rt
        .block_on(admin.service_accounts().create(&CreateServiceAccount {
            name: "bench-hsm".into(),
            public_key: pem,
            permission_id: Some(permission.id),
            external_id: None,
            days_valid: Some(30),
        }))
        .expect("create the benchmark service account");
    let Outcome::Done(account) = created else {
        panic!("service-account creation is pending approval");
    };
    let access = account
        .access_tokens
        .first()
        .expect("the create response has an access token");
    let token = access
        .access_token
        .clone()
        .expect("the create response carries the token");
    let token_file = emu.state_dir().join("bench-hsm.token");
    std::fs::write(&token_file, token.expose_secret()).expect("write the token file");
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600))
        .expect("chmod the token file");
    let signer = HsmSigner::new(Arc::clone(key), &access.cred_id).expect("HsmSigner");
    let client = DfnsClient::builder(url, token)
        .signer(Arc::new(signer))
        .build()
        .expect("service-account client");
    HsmAccount {
        id: account.user_info.user_id.clone(),
        cred_id: access.cred_id.clone(),
        token_file,
        client,
    }
}

/// `tasks` concurrent loops of signed `PUT /auth/service-accounts/{id}` for `duration`.
pub fn dfns_hsm_load(
    rt: &tokio::runtime::Runtime,
    account: &HsmAccount,
    tasks: usize,
    duration: Duration,
    round: usize,
) -> (Rate, Latencies) {
    rt.block_on(async {
        // Warm-up: connections open, code paths hot.
        for i in 0..10 {
            update(&account.client, &account.id, format!("warm-{round}-{i}")).await;
        }
        let start = Arc::new(tokio::sync::Barrier::new(tasks));
        let handles: Vec<_> = (0..tasks)
            .map(|t| {
                let client = account.client.clone();
                let id = account.id.clone();
                let start = Arc::clone(&start);
                tokio::spawn(async move {
                    start.wait().await;
                    let started = Instant::now();
                    let mut lat = Vec::new();
                    let mut i = 0u64;
                    while started.elapsed() < duration {
                        let t0 = Instant::now();
                        update(&client, &id, format!("r{round}-t{t}-{i}")).await;
                        lat.push(t0.elapsed());
                        i += 1;
                    }
                    (started.elapsed(), lat)
                })
            })
            .collect();
        let mut rate = Rate::default();
        let mut all = Vec::new();
        for h in handles {
            let (elapsed, lat) = h.await.expect("load task");
            rate.ops += lat.len() as u64;
            rate.elapsed = rate.elapsed.max(elapsed);
            all.extend(lat);
        }
        (rate, Latencies(all))
    })
}

async fn update(client: &DfnsClient, id: &str, external_id: String) {
    let out = client
        .service_accounts()
        .update(
            id,
            &UpdateServiceAccount {
                name: None,
                external_id: Some(external_id),
            },
        )
        .await
        .expect("signed update");
    assert!(matches!(out, Outcome::Done(_)), "update pending approval");
}

/// One round of the official SDK: `node SCRIPT STATE_DIR SECONDS TASKS [EXTRA...]`, which
/// prints `{"ops":N,"secs":S,"latenciesMs":[...]}` on its last stdout line. `extra` selects
/// the signer (none: an in-memory key; `--hsm-socket ...`: `HsmRemoteSigner`).
pub fn sdk_load(
    script: &Path,
    emu: &Emulator,
    tasks: usize,
    duration: Duration,
    extra: &[std::ffi::OsString],
) -> Result<(Rate, Latencies), String> {
    let out = Command::new("node")
        .arg(script)
        .arg(emu.state_dir())
        .arg(duration.as_secs_f64().to_string())
        .arg(tasks.to_string())
        .args(extra)
        .output()
        .map_err(|e| format!("start node: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "the SDK script failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let v: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("SDK script output {line:?}: {e}"))?;
    let lat: Vec<Duration> = v["latenciesMs"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(serde_json::Value::as_f64)
                .map(|ms| Duration::from_secs_f64(ms / 1000.0))
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
}
