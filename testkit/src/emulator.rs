//! Start a local `dfns-emulator` on loopback for a test or the benchmark.
//!
//! The binary is `$DFNS_EMULATOR_BIN`, else `dfns-emulator` beside the running executable
//! (build it with `cargo build -p dfns-emulator`); the emulator's own tests pass theirs with
//! [`Builder::binary`]. Server logs go to `<state dir>.log`, or to this process's stderr when
//! `DFNS_EMULATOR_TEST_LOG` is set.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::artifact;

/// How long to wait for `DIR/ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A leaked server stops by itself after this long, unless the caller says otherwise.
const DEFAULT_MAX_LIFETIME_SECS: u64 = 600;

/// A running emulator; killed on drop (and its temp state dir removed, when it made one).
pub struct Emulator {
    child: Child,
    base_url: String,
    state_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

/// How to start an [`Emulator`].
#[derive(Debug, Default)]
pub struct Builder {
    binary: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    args: Vec<OsString>,
    max_lifetime_secs: Option<u64>,
}

impl Builder {
    /// The `dfns-emulator` binary (default: [`binary`]).
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Builder {
        self.binary = Some(path.into());
        self
    }

    /// A state dir the caller owns, kept after the emulator stops (default: a fresh temp dir).
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Builder {
        self.state_dir = Some(dir.into());
        self
    }

    /// Extra command-line arguments.
    pub fn args<S: AsRef<std::ffi::OsStr>>(mut self, args: &[S]) -> Builder {
        self.args
            .extend(args.iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// `--max-lifetime SECS` (default 600; not added when the extra arguments set one).
    pub fn max_lifetime_secs(mut self, secs: u64) -> Builder {
        self.max_lifetime_secs = Some(secs);
        self
    }

    /// Start `dfns-emulator --listen 127.0.0.1:0 --state-dir DIR ...` and wait until it wrote
    /// `DIR/ready`.
    ///
    /// # Panics
    /// When it cannot start, exits early or is not ready within 30 s (with its log).
    pub fn start(self) -> Emulator {
        let binary = self.binary.unwrap_or_else(binary);
        let (state_dir, tmp) = match self.state_dir {
            Some(dir) => (dir, None),
            None => {
                let tmp = tempfile::tempdir().expect("create a temp dir for the emulator");
                (tmp.path().join("state"), Some(tmp))
            }
        };
        // A killed emulator leaves its `ready` behind; never mistake it for the new one's.
        let _ = std::fs::remove_file(state_dir.join("ready"));
        let log_path = state_dir.with_extension("log");
        let mut cmd = Command::new(&binary);
        cmd.arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--state-dir")
            .arg(&state_dir);
        if !self.args.iter().any(|a| a == "--max-lifetime") {
            let secs = self.max_lifetime_secs.unwrap_or(DEFAULT_MAX_LIFETIME_SECS);
            cmd.arg("--max-lifetime").arg(secs.to_string());
        }
        let mut child = cmd
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_sink(&log_path))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let base_url = match wait_ready(&state_dir, &mut child) {
            Ok(url) => url,
            Err(why) => {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!("dfns-emulator did not become ready: {why}\n--- emulator log ---\n{log}");
            }
        };
        Emulator {
            child,
            base_url,
            state_dir,
            _tmp: tmp,
        }
    }
}

impl Emulator {
    /// Start with a fresh temp state dir and `extra_args` (see [`Builder::start`]).
    pub fn start(extra_args: &[&str]) -> Emulator {
        Emulator::builder().args(extra_args).start()
    }

    /// Everything [`Emulator::start`] defaults, to override.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The emulator's state dir.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// `DIR/admin.token`: the admin's bearer token (mode 0600, no trailing newline).
    pub fn admin_token_path(&self) -> PathBuf {
        self.state_dir.join("admin.token")
    }

    /// The admin's bearer token.
    pub fn admin_token(&self) -> String {
        read_trimmed(&self.admin_token_path())
    }

    /// `DIR/admin.cred-id`: the admin's Key credential id.
    pub fn admin_cred_id_path(&self) -> PathBuf {
        self.state_dir.join("admin.cred-id")
    }

    /// The admin's Key credential id.
    pub fn admin_cred_id(&self) -> String {
        read_trimmed(&self.admin_cred_id_path())
    }

    /// `DIR/admin.key.pem`: the admin's P-256 private key, PKCS#8 PEM (absent when the
    /// emulator was started with `--admin-public-key`).
    pub fn admin_key_path(&self) -> PathBuf {
        self.state_dir.join("admin.key.pem")
    }

    /// Configure `cmd` (a `dfns-hsm` command) to act as this emulator's admin: its URL, token
    /// file and credential id, signing with the generated software key (`file:`), so that only
    /// the keys a test puts there use the HSM token.
    pub fn as_admin<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.env("DFNS_API_URL", self.base_url())
            .env("DFNS_AUTH_TOKEN_FILE", self.admin_token_path())
            .env("DFNS_CRED_ID", self.admin_cred_id())
            .env(
                "DFNS_SIGNING_KEY",
                format!("file:{}", self.admin_key_path().display()),
            )
    }

    /// Kill the process and wait for it; the state dir stays until drop (for a restart).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `$DFNS_EMULATOR_BIN`, or `dfns-emulator` beside the running executable.
///
/// # Panics
/// When neither is set nor built.
pub fn binary() -> PathBuf {
    match std::env::var_os("DFNS_EMULATOR_BIN") {
        Some(path) => PathBuf::from(path),
        None => artifact::binary("dfns-emulator"),
    }
}

/// Appended, so that a restarted emulator's log follows the first one's.
fn log_sink(path: &Path) -> Stdio {
    if std::env::var_os("DFNS_EMULATOR_TEST_LOG").is_some() {
        return Stdio::inherit();
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null())
}

fn read_trimmed(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .trim()
        .to_owned()
}

fn wait_ready(state_dir: &Path, child: &mut Child) -> Result<String, String> {
    let ready = state_dir.join("ready");
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(url) = std::fs::read_to_string(&ready) {
            let url = url.trim();
            if !url.is_empty() {
                return Ok(url.trim_end_matches('/').to_owned());
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("it exited with {status}"));
        }
        if Instant::now() > deadline {
            return Err(format!("no {} after {READY_TIMEOUT:?}", ready.display()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
