//! Start a local `dfns-emulator` for dfns-hsm's integration tests.
//!
//! Include from `tests/common/mod.rs` with `pub mod emulator;`. The binary is another package's,
//! so it is found next to this test executable (`target/<profile>/dfns-emulator`) or at
//! `$DFNS_EMULATOR_BIN`; build it first with `cargo build -p dfns-emulator`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long to wait for `DIR/ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A running emulator with its own temp state dir; killed on drop.
pub struct Emulator {
    child: Child,
    base_url: String,
    state_dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Emulator {
    /// Start `dfns-emulator --listen 127.0.0.1:0 --state-dir <temp> [extra_args]` and wait
    /// until it is ready. A `--max-lifetime 600` is added unless `extra_args` sets one, so a
    /// leaked server stops by itself. Server logs go to `<temp>/emulator.log`.
    pub fn start(extra_args: &[&str]) -> Emulator {
        let binary = emulator_binary();
        let tmp = tempfile::tempdir().expect("create a temp dir for the emulator");
        let state_dir = tmp.path().join("state");
        let log = std::fs::File::create(tmp.path().join("emulator.log"))
            .map(Stdio::from)
            .unwrap_or_else(|_| Stdio::null());
        let mut cmd = Command::new(&binary);
        cmd.arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--state-dir")
            .arg(&state_dir);
        if !extra_args.contains(&"--max-lifetime") {
            cmd.args(["--max-lifetime", "600"]);
        }
        let mut child = cmd
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let base_url = match wait_ready(&state_dir, &mut child) {
            Ok(url) => url,
            Err(why) => {
                let _ = child.kill();
                let _ = child.wait();
                let log =
                    std::fs::read_to_string(tmp.path().join("emulator.log")).unwrap_or_default();
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

    /// The admin's Key credential id (from `DIR/admin.cred-id`).
    pub fn admin_cred_id(&self) -> String {
        read_trimmed(&self.state_dir.join("admin.cred-id"))
    }

    /// `DIR/admin.key.pem`: the admin's P-256 private key, PKCS#8 PEM (absent when the
    /// emulator was started with `--admin-public-key`).
    pub fn admin_key_path(&self) -> PathBuf {
        self.state_dir.join("admin.key.pem")
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_trimmed(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .trim()
        .to_owned()
}

/// `$DFNS_EMULATOR_BIN`, or `dfns-emulator` in the target dir of the running test executable
/// (`target/<profile>/deps/<test>` -> `target/<profile>/dfns-emulator`).
fn emulator_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("DFNS_EMULATOR_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("locate the test executable");
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let binary = dir.join(format!("dfns-emulator{}", std::env::consts::EXE_SUFFIX));
    if !binary.is_file() {
        panic!(
            "{} not found: run `cargo build -p dfns-emulator` first (or set DFNS_EMULATOR_BIN)",
            binary.display()
        );
    }
    binary
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
