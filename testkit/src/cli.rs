//! Child processes on the test token: the `dfns-hsm` CLI and OpenSC's `pkcs11-tool`.

use std::path::Path;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

use crate::{artifact, TestToken};

impl TestToken {
    /// The `dfns-hsm` CLI built beside the test executable, with this token configured
    /// through its environment (the PIN from a file) and nothing else inherited but `PATH`.
    pub fn cli(&self) -> Command {
        self.cli_at(&artifact::binary("dfns-hsm"))
    }

    /// [`TestToken::cli`] with the binary at `bin` (the benchmark's release build).
    pub fn cli_at(&self, bin: &Path) -> Command {
        let mut c = Command::new(bin);
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.env())
            .env("DFNS_HSM_MODULE", &self.module)
            .env("DFNS_HSM_TOKEN", &self.label)
            .env(
                "DFNS_HSM_PIN_SOURCE",
                format!("file:{}", self.pin_file.display()),
            );
        c
    }

    /// Generate a key on this token with the CLI (`key generate --label LABEL`, under the
    /// process lock, plus `extra` arguments); its JSON document (`id`, `publicKeyPem`, ...).
    ///
    /// # Panics
    /// When the command fails or prints no JSON.
    pub fn generate_key(&self, label: &str, extra: &[&str]) -> serde_json::Value {
        let _serial = serial();
        let (ok, out, err) = run(self
            .cli()
            .args(["--output", "json", "key", "generate", "--label", label])
            .args(extra));
        assert!(ok, "key generate {label}: {err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }

    /// `pkcs11-tool` logged in to this token (OpenSC: a PKCS#11 client independent of ours).
    pub fn pkcs11_tool(&self) -> Command {
        let mut c = self.pkcs11_tool_without_login();
        c.args(["--login", "--pin", &self.pin]);
        c
    }

    /// `pkcs11-tool` on this token's module and label, not logged in.
    pub(crate) fn pkcs11_tool_without_login(&self) -> Command {
        let mut c = Command::new("pkcs11-tool");
        c.envs(self.env())
            .arg("--module")
            .arg(&self.module)
            .args(["--token-label", &self.label]);
        c
    }
}

/// Serializes tests that start CLI processes on the shared token. SoftHSM2's file store is
/// not safe against one process enumerating the token while another rewrites it (seen: an
/// empty token label during a concurrent key generation), so one child at a time.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// Run a command to its end: (exit status success, stdout, stderr).
pub fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("spawn {:?}: {e}", cmd.get_program()));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
