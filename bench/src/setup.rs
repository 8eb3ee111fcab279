//! A throwaway SoftHSM2 token with one key per algorithm, and where the release binaries are.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use dfns_hsm::hsm::{Algorithm, Key, Module, PinSource, Token, TokenOptions};
use dfns_hsm::hsm::{KeySelector, TokenSelector};

/// Token label of the benchmark token.
pub const TOKEN_LABEL: &str = "dfns-hsm-bench";

/// Where SoftHSM2's module usually lives.
const SOFTHSM_CANDIDATES: &[&str] = &[
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
];

/// The benchmark's token on disk: configuration, PIN file and module.
pub struct BenchToken {
    /// Keeps the token directory alive.
    pub _dir: tempfile::TempDir,
    /// `SOFTHSM2_CONF` for this token.
    pub conf: PathBuf,
    /// The SoftHSM2 module.
    pub module: PathBuf,
    /// User PIN, mode 0600.
    pub pin_file: PathBuf,
}

/// The SoftHSM2 module (`SOFTHSM2_MODULE` overrides the search).
pub fn softhsm_module() -> PathBuf {
    if let Ok(p) = std::env::var("SOFTHSM2_MODULE") {
        return PathBuf::from(p);
    }
    SOFTHSM_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("SoftHSM2 is not installed: run scripts/bench.sh (it installs softhsm2) or set SOFTHSM2_MODULE")
}

/// Initialize a fresh token in a temp dir and point this process's `SOFTHSM2_CONF` at it.
/// Must run before the first `C_Initialize` of the process.
pub fn make_token() -> BenchToken {
    let dir = tempfile::tempdir().expect("create the token temp dir");
    let tokens = dir.path().join("tokens");
    std::fs::create_dir(&tokens).expect("create the token dir");
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
            tokens.display()
        ),
    )
    .expect("write softhsm2.conf");
    let pin = random_digits();
    let so_pin = random_digits();
    let out = Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", &conf)
        .args(["--init-token", "--free", "--label", TOKEN_LABEL])
        .args(["--pin", &pin, "--so-pin", &so_pin])
        .output()
        .expect("run softhsm2-util (is softhsm2 installed?)");
    assert!(
        out.status.success(),
        "softhsm2-util --init-token failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pin_file = dir.path().join("user.pin");
    std::fs::write(&pin_file, &pin).expect("write the PIN file");
    std::fs::set_permissions(&pin_file, std::fs::Permissions::from_mode(0o600))
        .expect("chmod the PIN file");
    std::env::set_var("SOFTHSM2_CONF", &conf);
    BenchToken {
        _dir: dir,
        conf,
        module: softhsm_module(),
        pin_file,
    }
}

impl BenchToken {
    /// Open the token through dfns-hsm with a pool of `max_sessions` worker sessions.
    pub fn open(&self, module: &Path, max_sessions: usize) -> Arc<Token> {
        let module = Module::load(module, None).expect("load the PKCS#11 module");
        Token::open(
            module,
            &TokenSelector::Label(TOKEN_LABEL.into()),
            &PinSource::File(self.pin_file.clone()),
            TokenOptions {
                max_sessions,
                ..TokenOptions::default()
            },
        )
        .expect("open and log in to the benchmark token")
    }
}

/// The key label used for `algorithm`.
pub fn key_label(algorithm: Algorithm) -> String {
    format!("bench-{algorithm}")
}

/// Generate one key per algorithm on the token.
pub fn generate_keys(token: &Arc<Token>, algorithms: &[Algorithm]) {
    for &a in algorithms {
        Key::generate(token, &key_label(a), a)
            .unwrap_or_else(|e| panic!("generate the {a} benchmark key: {e}"));
    }
}

/// Find the benchmark key of `algorithm`.
pub fn find_key(token: &Arc<Token>, algorithm: Algorithm) -> Arc<Key> {
    Arc::new(
        Key::find(token, KeySelector::Label(key_label(algorithm)))
            .unwrap_or_else(|e| panic!("find the {algorithm} benchmark key: {e}")),
    )
}

/// Directory of this executable (`target/release`): the other binaries are built beside it.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("locate the benchmark executable");
    exe.parent()
        .expect("executable has a directory")
        .to_path_buf()
}

fn random_digits() -> String {
    let mut buf = [0u8; 8];
    let mut f = std::fs::File::open("/dev/urandom").expect("open /dev/urandom");
    std::io::Read::read_exact(&mut f, &mut buf).expect("read /dev/urandom");
    format!("{:08}", u64::from_le_bytes(buf) % 100_000_000)
}
