//! A throwaway SoftHSM2 token per test process.
//!
//! SoftHSM reads `SOFTHSM2_CONF` once, at `C_Initialize`, and `C_Initialize` is process-wide,
//! so every test in one binary shares one token (created on first use); tests use unique key
//! labels. The CLI binary gets the same token through its environment.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use dfns_hsm::hsm::{Module, PinSource, Token, TokenOptions, TokenSelector};

/// Where SoftHSM2's module usually lives; `DFNS_TEST_PKCS11_MODULE` overrides.
const MODULE_CANDIDATES: &[&str] = &[
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
];

pub const LABEL: &str = "dfns-hsm-test";

/// The per-process token.
pub struct TestToken {
    pub dir: tempfile::TempDir,
    pub conf: PathBuf,
    pub module: PathBuf,
    pub pin_file: PathBuf,
    pub pin: String,
}

pub fn module_path() -> PathBuf {
    if let Ok(p) = std::env::var("DFNS_TEST_PKCS11_MODULE") {
        return PathBuf::from(p);
    }
    MODULE_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("SoftHSM2 is not installed: run scripts/test.sh (it installs softhsm2 and opensc) or set DFNS_TEST_PKCS11_MODULE")
}

/// The shared token, created on first use.
pub fn token() -> &'static TestToken {
    static TOKEN: OnceLock<TestToken> = OnceLock::new();
    TOKEN.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).expect("tokendir");
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .expect("conf");
        let pin = format!("{:08}", rand_u32() % 100_000_000);
        let so_pin = format!("{:08}", rand_u32() % 100_000_000);
        let out = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &conf)
            .args([
                "--init-token",
                "--free",
                "--label",
                LABEL,
                "--pin",
                &pin,
                "--so-pin",
                &so_pin,
            ])
            .output()
            .expect("softhsm2-util is not installed: run scripts/test.sh");
        assert!(
            out.status.success(),
            "init-token failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pin_file = dir.path().join("user.pin");
        std::fs::write(&pin_file, format!("{pin}\n")).expect("pin file");
        std::fs::set_permissions(&pin_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        // Before any C_Initialize in this process (the OnceLock runs first).
        std::env::set_var("SOFTHSM2_CONF", &conf);
        TestToken {
            dir,
            conf,
            module: module_path(),
            pin_file,
            pin,
        }
    })
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish() as u32
}

impl TestToken {
    /// A logged-in token handle through the library.
    pub fn open(&self) -> Arc<Token> {
        let module = Module::load(&self.module, None).expect("load module");
        Token::open(
            module,
            &TokenSelector::Label(LABEL.into()),
            &PinSource::File(self.pin_file.clone()),
            TokenOptions::default(),
        )
        .expect("open token")
    }

    /// The CLI with this token configured through its environment (the PIN from a file).
    pub fn cli(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_dfns-hsm"));
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("SOFTHSM2_CONF", &self.conf)
            .env("DFNS_HSM_MODULE", &self.module)
            .env("DFNS_HSM_TOKEN", LABEL)
            .env(
                "DFNS_HSM_PIN_SOURCE",
                format!("file:{}", self.pin_file.display()),
            );
        c
    }

    /// `pkcs11-tool` against this token (OpenSC: an independent PKCS#11 client).
    pub fn pkcs11_tool(&self) -> Command {
        let mut c = Command::new("pkcs11-tool");
        c.env("SOFTHSM2_CONF", &self.conf)
            .arg("--module")
            .arg(&self.module)
            .args(["--token-label", LABEL, "--login", "--pin", &self.pin]);
        c
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Serializes tests that start CLI processes on the shared token. SoftHSM2's file store is
/// not safe against one process enumerating the token while another rewrites it (seen: an
/// empty token label during a concurrent key generation), so one child at a time.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// A label no other test uses.
pub fn unique_label(prefix: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    )
}

/// Run a command, return (status success, stdout, stderr).
pub fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().expect("spawn");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
