//! tpm2-pkcs11 on the swtpm simulator: a token in its own store, made with `tpm2_ptool`.
//!
//! The TPM stack (swtpm on 127.0.0.1, a private D-Bus session bus, tpm2-abrmd) comes from
//! `scripts/setup-tpm.sh`. When this process already sees one (`TPM2_PKCS11_TCTI` and
//! `DBUS_SESSION_BUS_ADDRESS` set, as `scripts/test.sh` exports them) it is shared: each test
//! process gets its own tpm2-pkcs11 store (a sqlite file under the token's temp dir) with a
//! transient primary key, so nothing persists on the TPM and processes never see each other's
//! tokens. Otherwise a stack is started in the temp dir with `WATCH_PID` set to this process,
//! so it stops by itself once the tests have ended.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::implementation::Provisioned;

/// Where Debian and Ubuntu put the tpm2-pkcs11 module.
pub const MODULE_CANDIDATES: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so",
    "/usr/lib/aarch64-linux-gnu/pkcs11/libtpm2_pkcs11.so",
    "/usr/lib/x86_64-linux-gnu/libtpm2_pkcs11.so.1",
    "/usr/local/lib/libtpm2_pkcs11.so",
];

/// The variables that point a client at a running TPM stack.
const STACK_VARS: [&str; 3] = [
    "DBUS_SESSION_BUS_ADDRESS",
    "TPM2TOOLS_TCTI",
    "TPM2_PKCS11_TCTI",
];

fn module_path() -> PathBuf {
    MODULE_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "tpm2-pkcs11 is not installed (none of {MODULE_CANDIDATES:?}): run \
                 scripts/setup-tpm.sh once (it installs swtpm, tpm2-abrmd and tpm2-pkcs11)"
            )
        })
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts")
        .join(name)
}

/// `export NAME=VALUE` lines (values as bash's `%q` prints simple paths) into pairs.
pub(crate) fn parse_exports(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.replace("\\ ", " ")))
        .collect()
}

/// The running stack's variables, or a new stack's (started under `dir`).
fn stack(dir: &Path) -> Vec<(String, String)> {
    let present: Vec<(String, String)> = STACK_VARS
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect();
    if present.len() == STACK_VARS.len() && std::env::var("TPM2_PKCS11_TCTI").is_ok() {
        return present;
    }
    let out = Command::new(script("setup-tpm.sh"))
        .arg("start")
        .arg(dir.join("tpm"))
        .env("WATCH_PID", std::process::id().to_string())
        .output()
        .expect("run scripts/setup-tpm.sh");
    assert!(
        out.status.success(),
        "scripts/setup-tpm.sh start failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse_exports(&String::from_utf8_lossy(&out.stdout))
        .into_iter()
        .filter(|(k, _)| STACK_VARS.contains(&k.as_str()))
        .collect()
}

/// A store under `DIR/store` with one token labelled `label`.
pub(crate) fn provision(dir: &Path, label: &str, so_pin: &str, pin: &str) -> Provisioned {
    let module = module_path();
    let mut env = stack(dir);
    let store = dir.join("store");
    std::fs::create_dir(&store).expect("create the tpm2-pkcs11 store dir");
    env.push(("TPM2_PKCS11_STORE".into(), store.display().to_string()));
    // tpm2-pkcs11 logs refusals on stderr; the CLI's stderr is asserted by tests.
    env.push(("TPM2_PKCS11_LOG_LEVEL".into(), "0".into()));
    let ptool = |args: &[&str]| {
        let out = Command::new("tpm2_ptool")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .args(args)
            .arg("--path")
            .arg(&store)
            .output()
            .expect("tpm2_ptool is not installed: run scripts/setup-tpm.sh");
        assert!(
            out.status.success(),
            "tpm2_ptool {} failed: {}",
            args[0],
            String::from_utf8_lossy(&out.stderr)
        );
    };
    ptool(&["init", "--transient-parent", "tpm2-tools-ecc-default"]);
    ptool(&[
        "addtoken",
        "--pid=1",
        &format!("--label={label}"),
        &format!("--userpin={pin}"),
        &format!("--sopin={so_pin}"),
    ]);
    Provisioned {
        module,
        env: env
            .into_iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect(),
    }
}
